/**
 * IOMMUs: the translating region kind completed (QEMU's IOMMUMemoryRegion),
 * with an IOTLB, MAP/UNMAP notifiers, replay, a fault log, and invalidation
 * as a barrier.
 *
 * A concrete IOMMU extends `Iommu` and implements `walk` (read its tables).
 * `Iommu.region` is the MemoryRegion to place in a device's DMA address
 * space; dispatch and the DMA layer call `translate` on it.
 *
 * The barrier (seed 004): every DMA mapping handed out through a translation
 * is recorded here (`trackMapping`). `invalidate(range)` flushes the IOTLB at
 * once, so translations requested afterwards walk the new tables, and returns
 * a completion that resolves only when every mapping recorded in the range has
 * been unmapped. Mappings through an IOMMU are shadow buffers written back at
 * unmap (see dma.ts), so "no write through an old translation after the
 * completion" holds by construction: a write-back happens either before the
 * completion, or not at all (the mapping was revoked after the revoke timeout,
 * and the dropped write is recorded as a fault). QEMU's design (a completion
 * that does not wait) is not an option here: the explorer injects it as a
 * subclass (src/explore/policies).
 */
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../memory/iommu.js';
import type { IOMMUAccessFlags, IOMMUMemoryRegionOps, IOMMUTLBEntry } from '../memory/iommu.js';
import type { AddressSpace } from '../memory/address-space.js';
import { MemoryRegion } from '../memory/region.js';
import type { DeviceOwner } from '../memory/owner.js';
import type { Scheduler, Timer } from '../sync/work.js';
import { NO_SYNC_POINTS, type SyncPoints } from '../sync/sync-points.js';
import { DmaError, stderrLog, validRange, type LogSink } from './errors.js';

export { IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW };
export type { IOMMUAccessFlags, IOMMUTLBEntry };

export const IOMMU_NOTIFIER_UNMAP = 1;
export const IOMMU_NOTIFIER_MAP = 2;
export const IOMMU_NOTIFIER_ALL = 3;

export interface IOMMUTLBEvent {
  readonly type: 'map' | 'unmap';
  readonly entry: IOMMUTLBEntry;
}

/** QEMU's IOMMUNotifier: called for MAP and/or UNMAP events overlapping [start, end]. */
export interface IOMMUNotifier {
  readonly flags: number;
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
  notify(ev: IOMMUTLBEvent): void;
}

export type IommuFaultReason =
  | 'not-present' // no translation for the address
  | 'permission' // translation lacks the access's permission
  | 'walk-error' // malformed tables or tables outside memory
  | 'revoked'; // a write through a mapping revoked by an invalidation's timeout was dropped

export interface IommuFault {
  /** Sequence number: counts every fault, even those the bounded log dropped. */
  readonly seq: number;
  readonly iova: number;
  readonly access: IOMMUAccessFlags;
  readonly reason: IommuFaultReason;
  readonly requesterId: number;
}

export type InvalidationStatus = 'pending' | 'complete' | 'revoked';

/** What `invalidate` returns: a promise and a synchronously readable status. */
export interface InvalidationCompletion {
  readonly done: Promise<InvalidationStatus>;
  readonly status: InvalidationStatus;
  /** Mappings the invalidation still waits for. */
  readonly waitingOn: number;
  /** Revoke the remaining mappings now (what the timeout does). */
  revokeNow(): void;
}

/** A DMA mapping obtained through a translation (kept by the DMA layer, one per mapping). */
export class IommuMapping {
  live = true;
  revoked = false;
  /** Invalidations waiting for this mapping; allocated only when one exists. */
  waiters: PendingInvalidation[] | null = null;
  constructor(
    readonly iova: number,
    readonly length: number,
    readonly requesterId: number,
  ) {}
}

class PendingInvalidation implements InvalidationCompletion {
  status: InvalidationStatus = 'pending';
  readonly done: Promise<InvalidationStatus>;
  private resolve!: (s: InvalidationStatus) => void;
  private timer: Timer | null = null;
  private hostTimer: ReturnType<typeof setTimeout> | null = null;
  readonly waiting = new Set<IommuMapping>();

  constructor(
    private readonly iommu: Iommu,
    readonly start: number,
    readonly end: number,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
  }

  get waitingOn(): number {
    return this.waiting.size;
  }

  arm(timeoutNs: number, scheduler: Scheduler | null): void {
    if (!(timeoutNs < Infinity)) return;
    if (scheduler) {
      this.timer = scheduler.newTimer(() => this.revokeNow());
      this.timer.mod(scheduler.clock.now() + timeoutNs);
    } else {
      this.hostTimer = setTimeout(() => this.revokeNow(), Math.max(0, timeoutNs / 1e6));
      this.hostTimer.unref?.();
    }
  }

  released(m: IommuMapping): void {
    this.waiting.delete(m);
    if (this.waiting.size === 0 && this.status === 'pending') this.finish('complete');
  }

  revokeNow(): void {
    if (this.status !== 'pending') return;
    for (const m of this.waiting) this.iommu.revoke(m);
    this.waiting.clear();
    this.finish('revoked');
  }

  finish(s: InvalidationStatus): void {
    this.status = s;
    this.iommu.syncPoints.at('iommu-invalidate', `${this.iommu.name} invalidation ${s}`);
    this.timer?.del();
    if (this.hostTimer) clearTimeout(this.hostTimer);
    this.iommu.invalidationFinished(this);
    this.resolve(s);
  }
}

export interface IommuOptions {
  /** Owner of the IOMMU region (for the reentrancy guard). */
  owner?: DeviceOwner;
  /** Size of the input address space the region covers (default 2^39). */
  size?: number;
  /** How long an invalidation waits for mappings before revoking them (default 1 s; Infinity waits forever). */
  revokeTimeoutNs?: number;
  /** Virtual time for the revoke timer (default: host timers). */
  scheduler?: Scheduler;
  /** IOTLB capacity in 4 KiB pages before it is flushed wholesale (default 4096). */
  iotlbCapacity?: number;
  /** Fault log capacity (oldest dropped first; default 256). */
  faultLogSize?: number;
  log?: LogSink;
  /** Called for every fault (e.g. to raise the IOMMU's fault interrupt). */
  onFault?: (f: IommuFault) => void;
  syncPoints?: SyncPoints;
}

const PAGE_SHIFT = 12;
const PAGE = 1 << PAGE_SHIFT;

const PERM_NAMES = ['none', 'read', 'write', 'read-write'];

/**
 * The generic IOMMU: IOTLB, notifiers, fault log and the invalidation
 * barrier. Subclasses implement `walk` (and usually expose their own
 * guest-visible registers).
 */
export abstract class Iommu implements IOMMUMemoryRegionOps {
  readonly region: MemoryRegion;
  revokeTimeoutNs: number;
  /** IOTLB: 4 KiB input page number -> entry (a large page fills one slot per 4 KiB page used). */
  private readonly iotlb = new Map<number, IOMMUTLBEntry>();
  private readonly iotlbCapacity: number;
  private mruPage = -1;
  private mruEntry: IOMMUTLBEntry | null = null;
  private hasLargeEntries = false;
  private readonly notifiers: IOMMUNotifier[] = [];
  private readonly mappings = new Set<IommuMapping>();
  private readonly pending = new Set<PendingInvalidation>();
  private readonly faultLog: IommuFault[] = [];
  private readonly faultLogSize: number;
  private readonly loggedReasons = new Set<IommuFaultReason>();
  private readonly scheduler: Scheduler | null;
  protected readonly log: LogSink;
  private readonly onFault: ((f: IommuFault) => void) | null;
  syncPoints: SyncPoints;
  faultCount = 0;
  iotlbHits = 0;
  iotlbMisses = 0;
  /** Write-backs refused because their mapping had been revoked. */
  revokedWrites = 0;
  /** Bumped by every invalidation; a mapping's validity is tracked per mapping, this is for reports. */
  generation = 0;

  constructor(
    readonly name: string,
    /** Where translated addresses are looked up (usually the system address space). */
    readonly targetAs: AddressSpace,
    opts: IommuOptions = {},
  ) {
    this.revokeTimeoutNs = opts.revokeTimeoutNs ?? 1e9;
    this.scheduler = opts.scheduler ?? null;
    this.iotlbCapacity = opts.iotlbCapacity ?? 4096;
    this.faultLogSize = opts.faultLogSize ?? 256;
    this.log = opts.log ?? stderrLog;
    this.onFault = opts.onFault ?? null;
    this.syncPoints = opts.syncPoints ?? NO_SYNC_POINTS;
    if (!Number.isInteger(this.iotlbCapacity) || this.iotlbCapacity < 1) {
      throw new DmaError('bad-config', `IOMMU ${name}: IOTLB capacity must be a positive integer`);
    }
    this.region = MemoryRegion.iommu(name, opts.size ?? 2 ** 39, this, { owner: opts.owner });
  }

  /**
   * Read the tables for `iova`. Return an entry with perm IOMMU_NONE for "no
   * translation" (set `walkFault` to say why). Must not throw for any address.
   */
  protected abstract walk(iova: number): IOMMUTLBEntry;
  /** Why the last walk returned IOMMU_NONE. */
  protected walkFault: IommuFaultReason = 'not-present';

  /** Call `fn` for every valid translation overlapping [start, end] (for replay and MAP notifications). */
  protected abstract forEachMapping(start: number, end: number, fn: (e: IOMMUTLBEntry) => void): void;

  minPageSize(): number {
    return PAGE;
  }

  /** A no-permission entry for `iova` (faults and "not present"). */
  protected noEntry(iova: number): IOMMUTLBEntry {
    return { targetAs: this.targetAs, iova: iova - (iova % PAGE), translatedAddr: 0, addrMask: PAGE - 1, perm: IOMMU_NONE };
  }

  /** Translation through the IOTLB; does not record faults (QEMU's translate, used by dispatch and replay). */
  lookup(addr: number): IOMMUTLBEntry {
    const page = Math.floor(addr / PAGE);
    if (page === this.mruPage) {
      this.iotlbHits++;
      return this.mruEntry!;
    }
    let e = this.iotlb.get(page);
    if (e === undefined) {
      this.iotlbMisses++;
      this.walkFault = 'not-present';
      e = this.walk(addr);
      if (e.perm === IOMMU_NONE) return e;
      if (this.iotlb.size >= this.iotlbCapacity) {
        this.iotlb.clear();
        this.hasLargeEntries = false;
      }
      if (e.addrMask >= PAGE) this.hasLargeEntries = true;
      this.iotlb.set(page, e);
    } else {
      this.iotlbHits++;
    }
    this.mruPage = page;
    this.mruEntry = e;
    return e;
  }

  /** IOMMUMemoryRegionOps.translate: a lookup that records a fault when `flag` is not permitted. */
  translate(addr: number, flag: IOMMUAccessFlags, iommuIdx: number): IOMMUTLBEntry {
    // The memory core passes an IOMMU index, not a requester: faults from that path have requester -1.
    void iommuIdx;
    return this.translateFor(addr, flag, -1);
  }

  /** Translate on behalf of `requesterId`, recording a fault when `flag` is not permitted. */
  translateFor(addr: number, flag: IOMMUAccessFlags, requesterId: number): IOMMUTLBEntry {
    const e = this.lookup(addr);
    if (flag !== IOMMU_NONE && (e.perm & flag) !== flag) {
      this.recordFault(addr, flag, e.perm === IOMMU_NONE ? this.walkFault : 'permission', requesterId);
    }
    return e;
  }

  recordFault(iova: number, access: IOMMUAccessFlags, reason: IommuFaultReason, requesterId: number): void {
    const f: IommuFault = { seq: this.faultCount++, iova, access, reason, requesterId };
    if (this.faultLog.length >= this.faultLogSize) this.faultLog.shift();
    this.faultLog.push(f);
    if (!this.loggedReasons.has(reason)) {
      this.loggedReasons.add(reason);
      this.log(
        `iommu ${this.name}: ${reason} fault: ${PERM_NAMES[access & 3]} at iova 0x${iova.toString(16)} ` +
          `by requester ${requesterId} (further ${reason} faults are only recorded in the fault log)`,
      );
    }
    this.onFault?.(f);
  }

  /** The recorded faults, oldest first (at most faultLogSize). */
  faults(): readonly IommuFault[] {
    return this.faultLog;
  }

  clearFaults(): void {
    this.faultLog.length = 0;
  }

  // ---- notifiers ----

  addNotifier(n: IOMMUNotifier): void {
    if ((n.flags & IOMMU_NOTIFIER_ALL) === 0 || !(n.start <= n.end)) {
      throw new DmaError('bad-config', `IOMMU ${this.name}: notifier needs MAP and/or UNMAP flags and start <= end`);
    }
    this.notifiers.push(n);
  }

  removeNotifier(n: IOMMUNotifier): void {
    const i = this.notifiers.indexOf(n);
    if (i >= 0) this.notifiers.splice(i, 1);
  }

  /** QEMU's memory_region_iommu_replay: MAP events for every current translation in the notifier's range. */
  replay(n: IOMMUNotifier): void {
    this.forEachMapping(n.start, n.end, (entry) => n.notify({ type: 'map', entry }));
  }

  private notify(type: 'map' | 'unmap', entry: IOMMUTLBEntry): void {
    const bit = type === 'map' ? IOMMU_NOTIFIER_MAP : IOMMU_NOTIFIER_UNMAP;
    const last = entry.iova + entry.addrMask;
    for (const n of this.notifiers.slice()) {
      if ((n.flags & bit) !== 0 && n.start <= last && entry.iova <= n.end) n.notify({ type, entry });
    }
  }

  // ---- mappings and the barrier ----

  /** Record a mapping handed out through a translation of [iova, iova + length). Called by the DMA layer. */
  trackMapping(iova: number, length: number, requesterId: number): IommuMapping {
    const m = new IommuMapping(iova, length, requesterId);
    this.mappings.add(m);
    return m;
  }

  /**
   * The mapping is being unmapped. Returns whether a write-back through it is
   * still allowed (false once revoked), then releases any invalidation waiting on it.
   */
  releaseMapping(m: IommuMapping, writeBackLen: number): boolean {
    if (!m.live) return false;
    m.live = false;
    this.mappings.delete(m);
    const ok = !m.revoked;
    if (!ok && writeBackLen > 0) {
      this.revokedWrites++;
      this.recordFault(m.iova, IOMMU_WO, 'revoked', m.requesterId);
    }
    return ok;
  }

  /** Called by the DMA layer after a mapping's write-back is done (or dropped). */
  mappingDone(m: IommuMapping): void {
    const w = m.waiters;
    if (!w) return;
    m.waiters = null;
    for (const p of w) p.released(m);
  }

  revoke(m: IommuMapping): void {
    m.revoked = true;
  }

  /** Mappings currently outstanding (for tests and reports). */
  get outstandingMappings(): number {
    return this.mappings.size;
  }

  /** Invalidations not yet complete. */
  get pendingInvalidations(): number {
    return this.pending.size;
  }

  invalidationFinished(p: PendingInvalidation): void {
    this.pending.delete(p);
  }

  /**
   * Invalidate translations of [start, start + length) after the guest changed
   * its tables. The IOTLB forgets the range at once (new translations walk the
   * new tables) and UNMAP notifiers hear of it, then MAP notifiers are told
   * the range's new translations. The completion resolves when every mapping
   * obtained in the range is unmapped, or when the revoke timeout revokes them.
   */
  invalidate(start: number, length: number, opts: { timeoutNs?: number } = {}): InvalidationCompletion {
    if (!validRange(start, length)) {
      // A malformed range cannot be honoured partially: invalidate everything (always safe).
      start = 0;
      length = this.region.size;
    }
    const end = start + length; // exclusive
    this.generation++;
    this.syncPoints.at('iommu-invalidate', `${this.name} invalidate 0x${start.toString(16)}+${length}`);
    this.flushIotlb(start, end);
    if (this.notifiers.length > 0) {
      this.notify('unmap', {
        targetAs: this.targetAs,
        iova: start - (start % PAGE),
        translatedAddr: 0,
        addrMask: Math.max(PAGE, length) - 1,
        perm: IOMMU_NONE,
      });
      if (this.notifiers.some((n) => (n.flags & IOMMU_NOTIFIER_MAP) !== 0)) {
        this.forEachMapping(start, end - 1, (e) => this.notify('map', e));
      }
    }
    const p = new PendingInvalidation(this, start, end);
    for (const m of this.mappings) {
      if (m.iova < end && start < m.iova + m.length && !m.revoked) {
        p.waiting.add(m);
        (m.waiters ??= []).push(p);
      }
    }
    if (p.waiting.size === 0) {
      p.finish('complete');
    } else {
      this.pending.add(p);
      p.arm(opts.timeoutNs ?? this.revokeTimeoutNs, this.scheduler);
    }
    return p;
  }

  /** Invalidate everything (a global IOTLB flush). */
  invalidateAll(opts: { timeoutNs?: number } = {}): InvalidationCompletion {
    return this.invalidate(0, this.region.size, opts);
  }

  private flushIotlb(start: number, end: number): void {
    this.mruPage = -1;
    this.mruEntry = null;
    const first = Math.floor(start / PAGE);
    const last = Math.floor((end - 1) / PAGE);
    if (this.hasLargeEntries || last - first + 1 >= this.iotlb.size) {
      // A large page cached under one 4 KiB slot may cover the range from outside it.
      for (const [page, e] of this.iotlb) {
        if (e.iova <= end - 1 && start <= e.iova + e.addrMask) this.iotlb.delete(page);
      }
      if (this.iotlb.size === 0) this.hasLargeEntries = false;
    } else {
      for (let p = first; p <= last; p++) this.iotlb.delete(p);
    }
  }

  /** Number of IOTLB slots in use. */
  get iotlbSize(): number {
    return this.iotlb.size;
  }
}

/** Whether an entry permits `flag`. */
export function permits(e: IOMMUTLBEntry, flag: IOMMUAccessFlags): boolean {
  return (e.perm & flag) === flag;
}
