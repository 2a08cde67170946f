/**
 * The devices a realm is home to, as other realms reach them: region ids for
 * snapshots, the request handler behind the realm's mailbox, and retirement
 * of regions that left the map.
 *
 * A request names (device id, region offset) as resolved in the requester's
 * snapshot, so an access that started against an old view completes against
 * the region it found there (QEMU's RCU-held flat views do the same).
 *
 * A published id holds its region's in-flight tracker (the same tracker
 * dispatch enters and DMA mappings hold, src/memory/lifetime.ts) until the
 * id is retired: once the region has left the map and the grace period of the
 * epoch that removed it has ended. So `region.destroy()` and `unrealize()`
 * complete only when no realm's snapshot can still name the region, and a
 * device freeing its state in the completion's onDone never sees a hart
 * realm's request afterwards. A request that arrives for a region whose
 * removal started is refused by dispatch (all-ones, MEMTX_DECODE_ERROR); one
 * for a retired id (only possible from a buggy requester) is answered the
 * same way without reaching the region.
 */
import { hostLog } from '../../host/log.js';
import { dispatchRead, dispatchWrite, onesLo, type DispatchSink } from '../../memory/dispatch.js';
import type { MemoryRegion } from '../../memory/region.js';
import { MEMTX_DECODE_ERROR, type MemTxAttrs, type MemTxResult, type PhysMemory } from '../../memory/types.js';
import type { GracePeriods } from './epoch.js';
import type { ReplySink, RequestHandler } from './mailbox.js';
import { OP_ADDR_READ, OP_ADDR_WRITE, OP_DEV_READ, OP_DEV_WRITE } from './shared.js';
import type { DeviceHome, DeviceHomes } from './snapshot.js';

interface Entry {
  readonly id: number;
  readonly mr: MemoryRegion;
  /** The entry holds mr.tracker (taken at registration) until it is retired. */
  held: boolean;
  /** Epoch at which the region left the map (retirement pending), or -1 while mapped. */
  leftAt: number;
  /** Resolved when the entry is retired (nothing can reach the region any more). */
  readonly waiters: (() => void)[];
}

export interface HomeDevicesOptions {
  realm: number;
  /** The realm's own view, for address-based requests (IOMMU ranges); null if none. */
  addressSpace?: PhysMemory | null;
  log?: (line: string) => void;
}

export class HomeDevices implements RequestHandler, DeviceHomes {
  readonly realm: number;
  /** Requests answered as unassigned because their device was retired. */
  staleRequests = 0;
  private readonly as: PhysMemory | null;
  private readonly entries: (Entry | null)[] = [];
  private readonly byRegion = new Map<MemoryRegion, Entry>();
  private readonly remote = new Map<MemoryRegion, DeviceHome>();
  private readonly portable = new Map<MemoryRegion, string>();
  private readonly sink: DispatchSink;

  constructor(opts: HomeDevicesOptions) {
    this.realm = opts.realm;
    this.as = opts.addressSpace ?? null;
    const log = opts.log ?? hostLog;
    this.sink = { valLo: 0, valHi: 0, log };
  }

  /** Declare that `mr` (a proxy in this realm's map) is answered by another realm's device. */
  setRemote(mr: MemoryRegion, home: DeviceHome): void {
    this.remote.set(mr, home);
  }

  /**
   * Declare that every realm may run `mr`'s accesses itself, with the region it builds for
   * `kind` (snapshot.ts: DeviceHome.portable); its id here still serves requests.
   */
  setPortable(mr: MemoryRegion, kind: string): void {
    this.portable.set(mr, kind);
  }

  /** The id of a local region (registered on first sight), or the remote home of a proxy. */
  locate(mr: MemoryRegion): DeviceHome {
    const r = this.remote.get(mr);
    if (r) return r;
    const kind = this.portable.get(mr);
    const id = this.register(mr).id;
    return kind === undefined ? { realm: this.realm, dev: id } : { realm: this.realm, dev: id, portable: kind };
  }

  private register(mr: MemoryRegion): Entry {
    let e = this.byRegion.get(mr);
    if (e && e.held) {
      e.leftAt = -1;
      return e;
    }
    // A region whose removal already started cannot be held; its id is then
    // never live and requests for it are refused.
    e = { id: this.entries.length, mr, held: mr.tracker.hold(), leftAt: -1, waiters: [] };
    this.entries.push(e);
    this.byRegion.set(mr, e);
    return e;
  }

  /** Region of a live id (tests, reports). */
  regionOf(id: number): MemoryRegion | null {
    const e = this.entries[id];
    return e && e.held ? e.mr : null;
  }

  serve(op: number, dev: number, offset: number, size: number, lo: number, hi: number, attrs: MemTxAttrs, _requester: number, out: ReplySink): MemTxResult {
    const sink = this.sink;
    if (op === OP_ADDR_READ || op === OP_ADDR_WRITE) {
      const as = this.as;
      if (as === null) return this.unassigned(size, out);
      if (op === OP_ADDR_WRITE) return as.store(offset, size, lo, hi, attrs);
      const r = as.load(offset, size, attrs);
      out.valLo = as.valLo;
      out.valHi = as.valHi;
      return r;
    }
    const e = this.entries[dev];
    if (e === undefined || e === null || !e.held) {
      this.staleRequests++;
      return this.unassigned(size, out);
    }
    // Dispatch enters the region's tracker (refusing once its removal started); the entry's hold keeps that removal from completing meanwhile.
    if (op === OP_DEV_WRITE) return dispatchWrite(sink, e.mr, offset, size, lo, hi, attrs);
    if (op !== OP_DEV_READ) return this.unassigned(size, out);
    sink.valLo = 0;
    sink.valHi = 0;
    const r = dispatchRead(sink, e.mr, offset, size, attrs);
    out.valLo = sink.valLo;
    out.valHi = sink.valHi;
    return r;
  }

  private unassigned(size: number, out: ReplySink): MemTxResult {
    out.valLo = onesLo(size);
    out.valHi = size === 8 ? 0xffffffff : 0;
    return MEMTX_DECODE_ERROR;
  }

  /**
   * After publishing `epoch` whose snapshot names the ids in `live`: every
   * other live entry left the map at `epoch`; retire it once that epoch's
   * grace period ends (unless it came back meanwhile).
   */
  sweep(live: ReadonlySet<number>, epoch: number, grace: GracePeriods): void {
    for (const e of this.entries) {
      if (e === null || live.has(e.id)) continue;
      if (e.leftAt >= 0) continue;
      e.leftAt = epoch;
      grace.after(epoch, () => {
        if (e.leftAt !== epoch) return; // re-mapped meanwhile
        this.retire(e);
      });
    }
  }

  private retire(e: Entry): void {
    this.entries[e.id] = null;
    if (this.byRegion.get(e.mr) === e) this.byRegion.delete(e.mr);
    if (e.held) {
      e.held = false;
      e.mr.tracker.release();
    }
    for (const w of e.waiters.splice(0)) w();
  }

  /** Whether some realm may still reach `mr` (false once it was retired, or if it was never published). */
  reachable(mr: MemoryRegion): boolean {
    return this.byRegion.has(mr);
  }

  /**
   * Resolves once no realm can reach `mr` any more: it is not in the map, the
   * grace period of the epoch that removed it has ended, and no request is in
   * flight in it. Resolves at once for a region other realms never saw.
   */
  whenUnreachable(mr: MemoryRegion): Promise<void> {
    const e = this.byRegion.get(mr);
    if (!e) return Promise.resolve();
    return new Promise((resolve) => e.waiters.push(resolve));
  }
}
