/**
 * Publication of flat-view snapshots from the realm that owns the memory map
 * (the main realm): on every change of the address space's view, serialize
 * it, hand it to every reader realm's sink, publish its epoch, and schedule
 * the retirement of devices that left the map for the end of the grace
 * period. Used by the coordinator (sinks are MessagePorts to workers) and by
 * the schedule explorer (sinks are plain assignments: realms simulated in one
 * thread).
 */
import type { FlatView } from '../../memory/flatview.js';
import type { GracePeriods } from './epoch.js';
import type { HomeDevices } from './home-devices.js';
import { G_EPOCH, MAIN_REALM, type SmpShared } from './shared.js';
import { serializeFlatView, type SnapshotData } from './snapshot.js';

/** What the publisher reads of an address space (AddressSpace satisfies it). */
export interface PublishedSpace {
  readonly epoch: number;
  flatView(): FlatView;
}

export class SnapshotPublisher {
  private snap: SnapshotData;
  readonly sinks: ((s: SnapshotData) => void)[] = [];

  constructor(
    private readonly space: PublishedSpace,
    private readonly home: HomeDevices,
    private readonly grace: GracePeriods,
    shared: SmpShared,
    /** The buffer of the guest-RAM WebAssembly memory, marked in every snapshot (snapshot.ts). */
    private readonly wasmRam: ArrayBufferLike | null = null,
  ) {
    this.snap = serializeFlatView(space.flatView(), space.epoch, home, wasmRam);
    Atomics.store(shared.i32, G_EPOCH, this.snap.epoch);
  }

  get current(): SnapshotData {
    return this.snap;
  }

  /** Publish the address space's view if it changed since the last publication; returns whether it did. */
  maybePublish(): boolean {
    if (this.space.epoch === this.snap.epoch) return false;
    const snap = serializeFlatView(this.space.flatView(), this.space.epoch, this.home, this.wasmRam);
    this.snap = snap;
    // Hand the snapshot over first, then publish the epoch: a realm that sees the epoch finds the snapshot.
    for (const s of this.sinks) s(snap);
    this.grace.publish(snap.epoch);
    const live = new Set<number>();
    for (let i = 0; i < snap.dev.length; i++) if (snap.realm[i] === MAIN_REALM && snap.dev[i]! >= 0) live.add(snap.dev[i]!);
    this.home.sweep(live, snap.epoch, this.grace);
    return true;
  }
}
