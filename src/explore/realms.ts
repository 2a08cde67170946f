/**
 * Hart realms simulated as explorer tasks, on the machine's own SMP
 * components: one helper for every scenario that needs them (seed002,
 * smp-epoch-retire) instead of a copy of the wiring in each.
 *
 * `ExplorerRealms` builds, around a scenario's AddressSpace, what the main
 * realm has in a `-accel tcg,thread=multi` machine: the shared control words
 * (SmpShared), the grace-period tracker (GracePeriods), the device table
 * (HomeDevices) and the snapshot publisher, told of every commit. Each
 * `SimulatedHart` accesses memory through the real `RealmPhysMemory` on its
 * adopted snapshot (the code a hart worker runs), with a request port that
 * has the home realm serve the request at once; it adopts the newest
 * snapshot and acknowledges its epoch only at `boundary()`, as a hart realm
 * does between quanta. So a task that yields between `boundary()` and an
 * access models a request resolved in a snapshot the main realm may since
 * have replaced.
 *
 * Wiring only: every mechanism here is production code.
 */
import { GracePeriods } from '../machine/smp/epoch.js';
import { HomeDevices } from '../machine/smp/home-devices.js';
import type { RequestPort } from '../machine/smp/mailbox.js';
import { SnapshotPublisher } from '../machine/smp/publisher.js';
import { RealmPhysMemory } from '../machine/smp/realm-memory.js';
import { MAIN_REALM, REALM_EXITED, REALM_RUNNING, SmpShared, W_ACK, W_ALIVE } from '../machine/smp/shared.js';
import { SnapshotView, type SnapshotData } from '../machine/smp/snapshot.js';
import type { AddressSpace } from '../memory/address-space.js';
import type { MemoryListener } from '../memory/listener.js';
import type { MemTxAttrs, MemTxResult } from '../memory/types.js';

export class ExplorerRealms {
  readonly shared: SmpShared;
  readonly grace: GracePeriods;
  readonly home: HomeDevices;
  readonly publisher: SnapshotPublisher;
  private newest: SnapshotData;
  private readonly listener: MemoryListener;

  /** `harts`: the realm numbers of the simulated hart realms (1, 2, ...; 0 is the main realm). */
  constructor(
    readonly as: AddressSpace,
    readonly harts: readonly number[],
  ) {
    this.shared = SmpShared.create(1 + Math.max(0, ...harts));
    this.grace = new GracePeriods(this.shared, harts);
    this.home = new HomeDevices({ realm: MAIN_REALM, log: () => {} });
    this.publisher = new SnapshotPublisher(as, this.home, this.grace, this.shared);
    this.newest = this.publisher.current;
    this.publisher.sinks.push((s) => (this.newest = s));
    this.listener = { commit: () => void this.publisher.maybePublish() };
    as.addListener(this.listener);
  }

  /** The newest snapshot published (what a hart adopts at its next boundary). */
  get latest(): SnapshotData {
    return this.newest;
  }

  /** Start hart realm `realm`: it adopts the current snapshot and is running. */
  hart(realm: number): SimulatedHart {
    return new SimulatedHart(this, realm);
  }

  dispose(): void {
    this.as.removeListener(this.listener);
  }
}

export class SimulatedHart {
  /** The hart realm's memory: the real accessor, on its adopted snapshot. */
  readonly mem: RealmPhysMemory;

  constructor(
    private readonly realms: ExplorerRealms,
    readonly realm: number,
  ) {
    const home = realms.home;
    const port: RequestPort & { valLo: number; valHi: number } = {
      self: realm,
      valLo: 0,
      valHi: 0,
      request(_target: number, op: number, dev: number, offset: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
        return home.serve(op, dev, offset, size, lo, hi, attrs, realm, port);
      },
    };
    this.mem = new RealmPhysMemory(new SnapshotView(realms.latest), port);
    realms.shared.store(realm, W_ACK, this.mem.epoch);
    realms.shared.store(realm, W_ALIVE, REALM_RUNNING);
  }

  /** The snapshot accesses resolve in. */
  get view(): SnapshotView {
    return this.mem.snapshot;
  }

  /** A quantum boundary: adopt the newest snapshot and acknowledge its epoch. */
  boundary(): void {
    const latest = this.realms.latest;
    if (latest.epoch > this.mem.epoch) this.mem.adopt(new SnapshotView(latest));
    this.realms.shared.store(this.realm, W_ACK, this.mem.epoch);
  }

  /** The hart realm exits (it no longer holds back grace periods). */
  exit(): void {
    this.realms.shared.store(this.realm, W_ALIVE, REALM_EXITED);
  }
}
