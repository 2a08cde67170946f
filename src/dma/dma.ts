/**
 * The DMA API (QEMU's dma_memory_rw / address_space_map / cpu_register_map_client,
 * in TypeScript terms). Devices reach guest memory only through their own DMA
 * AddressSpace (a PCI device's is gated by bus mastering, and may sit behind an
 * IOMMU region).
 *
 * - dmaRead/dmaWrite/dmaRw copy between a device buffer and the address space,
 *   across RAM, I/O, IOMMU and unassigned ranges, and return the OR'd MemTxResult.
 * - dmaMap hands out a DmaMapping: a direct view of guest RAM (a subarray of its
 *   SharedArrayBuffer) when the start lies in RAM (possibly shorter than asked:
 *   up to the end of that RAM range, as QEMU does); a bounce buffer from the
 *   address space's budget for anything else; a shadow buffer for anything
 *   reached through an IOMMU (so the invalidation barrier can be enforced).
 *   dmaUnmap writes bounce and shadow buffers back (only `accessLen` bytes).
 * - When the bounce budget is exhausted, dmaMap returns a retryable refusal and
 *   the caller registers with registerMapClient to be told when to retry.
 *
 * - A mapping holds its target region alive (QEMU: a region holds its owner
 *   alive while a view or an in-flight map references it): the region's
 *   destroy() completes only after the mapping is unmapped. A mapping made
 *   through an address space that has an owner (a device's DMA view) holds
 *   that device too, so unrealize(device) waits for its mappings. Mapping
 *   into a region (or for a device) being removed is refused.
 *
 * Per-address-space DMA state (budget, map clients, log) is kept in a WeakMap
 * keyed by the AddressSpace: the equivalent of QEMU's fields in AddressSpace,
 * without touching the memory core's class. It dies with the address space.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { FlatView, RANGE_IOMMU, RANGE_RAM, RANGE_RESERVED, RANGE_ROM, RANGE_ROMD } from '../memory/flatview.js';
import { IOMMU_RO, IOMMU_WO } from '../memory/iommu.js';
import { ownerLifetime, type LifetimeTracker } from '../memory/lifetime.js';
import {
  MEMTX_ACCESS_ERROR,
  MEMTX_DECODE_ERROR,
  MEMTX_ERROR,
  MEMTX_OK,
  MEMTXATTRS_UNSPECIFIED,
  type MemTxAttrs,
  type MemTxResult,
} from '../memory/types.js';
import { NO_SYNC_POINTS, type SyncPoints } from '../sync/sync-points.js';
import { DmaError, stderrLog, validRange, type LogSink } from './errors.js';
import { Iommu, type IommuMapping } from './iommu.js';

export type { MemTxAttrs, MemTxResult };

/** QEMU's DMADirection: TO_DEVICE reads guest memory, FROM_DEVICE writes it. */
export const DMA_DIRECTION_TO_DEVICE = 0;
export const DMA_DIRECTION_FROM_DEVICE = 1;
export type DmaDirection = typeof DMA_DIRECTION_TO_DEVICE | typeof DMA_DIRECTION_FROM_DEVICE;

/** Default bounce budget per address space (QEMU's 4 KiB). */
export const DEFAULT_BOUNCE_BUDGET = 4096;
/** Default cap on shadow bytes (IOMMU mappings) outstanding per address space. */
export const DEFAULT_SHADOW_LIMIT = 16 * 1024 * 1024;
/** IOMMUs in front of IOMMUs deeper than this are refused (a guest-built loop cannot recurse forever). */
const MAX_IOMMU_DEPTH = 4;

export interface DmaOptions {
  /** Bounce budget in bytes (default 4096). */
  bounceBudget?: number;
  /** Shadow buffers (mappings through an IOMMU) outstanding at most (default 16 MiB). */
  shadowLimit?: number;
  log?: LogSink;
  /** Where map/unmap/complete announce themselves to the schedule explorer. */
  syncPoints?: SyncPoints;
}

export type DmaMappingKind = 'direct' | 'bounce' | 'shadow' | 'private';

export interface DmaMapOptions {
  /**
   * Never hand out a direct view of guest RAM: RAM is copied into a private
   * buffer (filled at map for reads, written back at unmap through the address
   * space as it is then). Async transfers that must be revocable use it: a
   * direct view given to host I/O cannot be taken back (docs/dma.md).
   */
  private?: boolean;
}

/** A handle registered with registerMapClient; cancel() withdraws it. */
export interface MapClient {
  cancel(): void;
}

class DmaAsState {
  bounceBudget: number;
  bounceUsed = 0;
  shadowLimit: number;
  shadowUsed = 0;
  log: LogSink;
  syncPoints: SyncPoints;
  readonly clients = new Set<() => void>();
  notifyQueued = false;
  /** Mappings currently outstanding. */
  live = 0;
  /** Misuse seen at unmap (never mapped, double unmap, foreign mapping). */
  badUnmaps = 0;
  /** Refused maps (budget exhausted). */
  exhausted = 0;
  constructor(opts: DmaOptions) {
    this.bounceBudget = opts.bounceBudget ?? DEFAULT_BOUNCE_BUDGET;
    this.shadowLimit = opts.shadowLimit ?? DEFAULT_SHADOW_LIMIT;
    this.log = opts.log ?? stderrLog;
    this.syncPoints = opts.syncPoints ?? NO_SYNC_POINTS;
  }
}

const states = new WeakMap<AddressSpace, DmaAsState>();

function stateOf(as: AddressSpace): DmaAsState {
  let s = states.get(as);
  if (!s) {
    s = new DmaAsState({ log: (m) => as.log(m) });
    states.set(as, s);
  }
  return s;
}

function checkBudget(n: number | undefined, what: string): void {
  if (n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= 2 ** 31)) {
    throw new DmaError('bad-config', `${what} must be an integer in [0, 2^31], got ${n}`);
  }
}

/** Configure an address space's DMA state (budget, log, sync points). May be called again. */
export function configureDma(as: AddressSpace, opts: DmaOptions): void {
  checkBudget(opts.bounceBudget, 'bounce budget');
  checkBudget(opts.shadowLimit, 'shadow limit');
  const s = stateOf(as);
  if (opts.bounceBudget !== undefined) s.bounceBudget = opts.bounceBudget;
  if (opts.shadowLimit !== undefined) s.shadowLimit = opts.shadowLimit;
  if (opts.log) s.log = opts.log;
  if (opts.syncPoints) s.syncPoints = opts.syncPoints;
}

/** The sync points an address space's DMA announces itself to (configureDma). */
export function dmaSyncPoints(as: AddressSpace): SyncPoints {
  return stateOf(as).syncPoints;
}

/** Counters of an address space's DMA state (for tests, `info`, and reports). */
export function dmaStats(as: AddressSpace): {
  bounceBudget: number;
  bounceUsed: number;
  shadowUsed: number;
  liveMappings: number;
  badUnmaps: number;
  exhausted: number;
  mapClients: number;
} {
  const s = stateOf(as);
  return {
    bounceBudget: s.bounceBudget,
    bounceUsed: s.bounceUsed,
    shadowUsed: s.shadowUsed,
    liveMappings: s.live,
    badUnmaps: s.badUnmaps,
    exhausted: s.exhausted,
    mapClients: s.clients.size,
  };
}

// ------------------------------------------------------------------ copies

/**
 * Copy between `buf[off, off + len)` and guest addresses [addr, addr + len) of `as`.
 * Handles RAM directly, IOMMU ranges by translating (faults are recorded with
 * attrs.requesterId), everything else through dispatch.
 */
function rwIn(
  as: AddressSpace,
  addr: number,
  buf: Uint8Array,
  off: number,
  len: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
  depth: number,
): MemTxResult {
  const view: FlatView = as.flatView();
  let r = MEMTX_OK;
  while (len > 0) {
    const i = view.findIndex(addr);
    if (i < 0) {
      // Unassigned: let the address space account for it (fills 0xff, DECODE_ERROR) up to the next range.
      const n = Math.min(len, view.nextStart(addr) - addr);
      r |= as.rw(addr, buf, off, n, isWrite, attrs);
      addr += n;
      off += n;
      len -= n;
      continue;
    }
    const fr = view.ranges[i]!;
    const n = Math.min(len, fr.end - addr);
    const k = fr.kind;
    if (k === RANGE_RAM || (!isWrite && (k === RANGE_ROM || k === RANGE_ROMD))) {
      const o = addr - fr.start;
      const bytes = fr.bytes!;
      if (isWrite) bytes.set(off === 0 && n === buf.length ? buf : buf.subarray(off, off + n), o);
      else buf.set(n === bytes.length && o === 0 ? bytes : bytes.subarray(o, o + n), off);
    } else if (k === RANGE_IOMMU && fr.mr.iommuOps instanceof Iommu) {
      r |= rwIommu(fr.mr.iommuOps, addr - fr.start + fr.offsetInRegion, buf, off, n, isWrite, attrs, depth);
    } else {
      r |= as.rw(addr, buf, off, n, isWrite, attrs);
    }
    addr += n;
    off += n;
    len -= n;
  }
  return r;
}

function rwIommu(
  iommu: Iommu,
  iova: number,
  buf: Uint8Array,
  off: number,
  len: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
  depth: number,
): MemTxResult {
  const need = isWrite ? IOMMU_WO : IOMMU_RO;
  let r = MEMTX_OK;
  if (depth >= MAX_IOMMU_DEPTH) {
    iommu.recordFault(iova, need, 'walk-error', attrs.requesterId);
    if (!isWrite) buf.fill(0xff, off, off + len);
    return MEMTX_ACCESS_ERROR;
  }
  while (len > 0) {
    const e = iommu.translateFor(iova, need, attrs.requesterId);
    let n = Math.min(len, e.iova + e.addrMask + 1 - iova);
    if ((e.perm & need) !== need) {
      if (!isWrite) buf.fill(0xff, off, off + n);
      r |= MEMTX_ACCESS_ERROR;
    } else {
      // Coalesce following pages that continue the same target range (the common
      // case: a buffer mapped contiguously), so a large transfer is one copy.
      const target = e.targetAs;
      const taddr = e.translatedAddr + (iova - e.iova);
      while (n < len) {
        const next = iova + n;
        const f = iommu.lookup(next); // no fault here: the outer loop records it once
        if (f.targetAs !== target || (f.perm & need) !== need || f.translatedAddr + (next - f.iova) !== taddr + n) break;
        n += Math.min(len - n, f.iova + f.addrMask + 1 - next);
      }
      r |= rwIn(target, taddr, buf, off, n, isWrite, attrs, depth + 1);
    }
    iova += n;
    off += n;
    len -= n;
  }
  return r;
}

function badRange(as: AddressSpace, what: string, addr: number, len: number): MemTxResult {
  stateOf(as).log(`dma ${as.name}: ${what} of ${len} bytes at ${addr}: address range invalid (refused)`);
  return MEMTX_DECODE_ERROR;
}

/**
 * QEMU's dma_memory_rw: DMA_DIRECTION_FROM_DEVICE writes `buf` to guest memory
 * at addr, TO_DEVICE reads guest memory into `buf`. Never throws for any address.
 */
export function dmaRw(
  as: AddressSpace,
  addr: number,
  buf: Uint8Array,
  dir: DmaDirection,
  attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED,
): MemTxResult {
  const isWrite = dir === DMA_DIRECTION_FROM_DEVICE;
  if (!validRange(addr, buf.length)) {
    if (!isWrite) buf.fill(0xff);
    return badRange(as, isWrite ? 'write' : 'read', addr, buf.length);
  }
  return rwIn(as, addr, buf, 0, buf.length, isWrite, attrs, 0);
}

/** Read guest memory at `addr` into `buf` (device reads: TO_DEVICE). */
export function dmaRead(as: AddressSpace, addr: number, buf: Uint8Array, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
  if (!validRange(addr, buf.length)) {
    buf.fill(0xff);
    return badRange(as, 'read', addr, buf.length);
  }
  return rwIn(as, addr, buf, 0, buf.length, false, attrs, 0);
}

/** Write `buf` to guest memory at `addr` (device writes: FROM_DEVICE). */
export function dmaWrite(as: AddressSpace, addr: number, buf: Uint8Array, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
  if (!validRange(addr, buf.length)) return badRange(as, 'write', addr, buf.length);
  return rwIn(as, addr, buf, 0, buf.length, true, attrs, 0);
}

/** Fill [addr, addr + len) with `byte` (QEMU's dma_memory_set). */
export function dmaSet(as: AddressSpace, addr: number, byte: number, len: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
  if (!validRange(addr, len)) return badRange(as, 'fill', addr, len);
  const chunk = new Uint8Array(Math.min(len, 4096)).fill(byte & 0xff);
  let r = MEMTX_OK;
  for (let done = 0; done < len; done += chunk.length) {
    const n = Math.min(chunk.length, len - done);
    r |= rwIn(as, addr + done, chunk, 0, n, true, attrs, 0);
  }
  return r;
}

// ------------------------------------------------------------------ map / unmap

/** A mapping handed out by dmaMap. Use `bytes`; give it back with dmaUnmap exactly once. */
export class DmaMapping {
  readonly ok = true;
  /** False once unmapped. */
  live = true;
  /** @internal The target region's tracker, held until unmap. */
  heldRegion: LifetimeTracker | null = null;
  /** @internal The mapping device's tracker (the address space's owner), held until unmap. */
  heldOwner: LifetimeTracker | null = null;
  /** @internal */ constructor(
    readonly as: AddressSpace,
    /** Guest (bus) address the mapping starts at. */
    readonly addr: number,
    /** The bytes the device may use: direct RAM, or a bounce/shadow buffer. length <= requested. */
    readonly bytes: Uint8Array,
    readonly isWrite: boolean,
    readonly kind: DmaMappingKind,
    readonly attrs: MemTxAttrs,
    /** For shadows: where the write-back goes. */
    readonly target: AddressSpace | null,
    readonly targetAddr: number,
    readonly iommu: Iommu | null,
    readonly record: IommuMapping | null,
  ) {}

  get length(): number {
    return this.bytes.length;
  }
}

/** Why dmaMap refused. `retry`: the budget was exhausted; registerMapClient says when to try again. */
export class DmaMapRefused {
  readonly ok = false;
  constructor(
    readonly result: MemTxResult,
    readonly retry: boolean,
    readonly reason: string,
  ) {}
}

export type DmaMapResult = DmaMapping | DmaMapRefused;

const REFUSED_BAD_RANGE = new DmaMapRefused(MEMTX_DECODE_ERROR, false, 'address range invalid');
const REFUSED_EMPTY = new DmaMapRefused(MEMTX_ERROR, false, 'zero-length mapping');
const REFUSED_BOUNCE = new DmaMapRefused(MEMTX_OK, true, 'bounce budget exhausted');
const REFUSED_SHADOW = new DmaMapRefused(MEMTX_OK, true, 'shadow limit reached');
const REFUSED_UNASSIGNED = new DmaMapRefused(MEMTX_DECODE_ERROR, false, 'unassigned address');
const REFUSED_IOMMU = new DmaMapRefused(MEMTX_ACCESS_ERROR, false, 'IOMMU fault');
const REFUSED_MEMORY_ONLY = new DmaMapRefused(MEMTX_ACCESS_ERROR, false, 'not memory (memoryOnly attributes)');
const REFUSED_DEPTH = new DmaMapRefused(MEMTX_ACCESS_ERROR, false, 'IOMMUs nested too deep');
const REFUSED_REMOVED = new DmaMapRefused(MEMTX_DECODE_ERROR, false, 'target region is being removed');
const REFUSED_OWNER_REMOVED = new DmaMapRefused(MEMTX_ACCESS_ERROR, false, 'device is being unrealized');

/**
 * QEMU's address_space_map. Map [addr, addr + len) of `as` for the device to
 * read (isWrite false) or write (isWrite true). The mapping may be shorter than
 * `len` (the end of a RAM range, an IOMMU page, the bounce budget): map the rest
 * with another call. Never throws for any address.
 */
export function dmaMap(
  as: AddressSpace,
  addr: number,
  len: number,
  isWrite: boolean,
  attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED,
  opts?: DmaMapOptions,
): DmaMapResult {
  const st = stateOf(as);
  if (!validRange(addr, len)) {
    st.log(`dma ${as.name}: map of ${len} bytes at ${addr}: address range invalid (refused)`);
    return REFUSED_BAD_RANGE;
  }
  if (len === 0) return REFUSED_EMPTY;
  let ot: LifetimeTracker | null = null;
  if (as.owner !== null) {
    ot = ownerLifetime(as.owner);
    if (!ot.hold()) return REFUSED_OWNER_REMOVED;
  }
  const m = mapIn(st, as, as, addr, addr, len, isWrite, attrs, 0, null, opts?.private === true);
  if (!m.ok) ot?.release();
  if (m.ok) {
    m.heldOwner = ot;
    st.live++;
    st.syncPoints.at('dma-map', `${as.name} map 0x${addr.toString(16)}+${m.length} ${m.kind}`);
  }
  return m;
}

function mapIn(
  st: DmaAsState,
  origin: AddressSpace,
  as: AddressSpace,
  busAddr: number,
  addr: number,
  len: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
  depth: number,
  via: { iommu: Iommu; iova: number } | null,
  priv: boolean,
): DmaMapResult {
  const view = as.flatView();
  const fr = view.lookup(addr);
  // A reservation decodes like unassigned memory: nothing to map.
  if (!fr || fr.kind === RANGE_RESERVED) return REFUSED_UNASSIGNED;
  const k = fr.kind;
  const n = Math.min(len, fr.end - addr);
  if (k === RANGE_IOMMU && fr.mr.iommuOps instanceof Iommu) {
    if (depth >= MAX_IOMMU_DEPTH) return REFUSED_DEPTH;
    const iommu = fr.mr.iommuOps;
    const iova = addr - fr.start + fr.offsetInRegion;
    const need = isWrite ? IOMMU_WO : IOMMU_RO;
    const e = iommu.translateFor(iova, need, attrs.requesterId);
    if ((e.perm & need) !== need) return REFUSED_IOMMU;
    const l = Math.min(n, e.iova + e.addrMask + 1 - iova);
    // The outermost IOMMU is the one whose invalidations the mapping must honour.
    return mapIn(st, origin, e.targetAs, busAddr, e.translatedAddr + (iova - e.iova), l, isWrite, attrs, depth + 1, via ?? { iommu, iova }, priv);
  }
  // The mapping holds the region it lands in until unmap.
  const held = fr.mr.tracker;
  if (!held.hold()) return REFUSED_REMOVED;
  let m: DmaMapResult;
  if (via) m = shadow(st, origin, busAddr, as, addr, n, isWrite, attrs, via.iommu, via.iova);
  else if (k === RANGE_RAM || (!isWrite && (k === RANGE_ROM || k === RANGE_ROMD))) {
    const o = addr - fr.start;
    const ram = fr.bytes!.subarray(o, o + n);
    m = priv ? privateCopy(st, origin, busAddr, ram, isWrite, attrs) : new DmaMapping(origin, busAddr, ram, isWrite, 'direct', attrs, null, 0, null, null);
  } else m = bounce(st, origin, addr, len, isWrite, attrs);
  if (m.ok) m.heldRegion = held;
  else held.release();
  return m;
}

function bounce(
  st: DmaAsState,
  as: AddressSpace,
  addr: number,
  len: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
): DmaMapResult {
  if (attrs.memoryOnly) return REFUSED_MEMORY_ONLY;
  const avail = st.bounceBudget - st.bounceUsed;
  if (avail <= 0) {
    st.exhausted++;
    return REFUSED_BOUNCE;
  }
  const n = Math.min(len, avail);
  const buf = new Uint8Array(n);
  st.bounceUsed += n;
  if (!isWrite) {
    const r = rwIn(as, addr, buf, 0, n, false, attrs, 0);
    if (r !== MEMTX_OK) {
      // The device must not consume bytes that failed to read (a guard refusal, an IOMMU fault).
      releaseBounce(st, n);
      return new DmaMapRefused(r, false, 'bounce read failed');
    }
  }
  return new DmaMapping(as, addr, buf, isWrite, 'bounce', attrs, null, 0, null, null);
}

/** A private copy of a RAM range (counted against the shadow limit, which bounds all private buffers). */
function privateCopy(st: DmaAsState, as: AddressSpace, busAddr: number, ram: Uint8Array, isWrite: boolean, attrs: MemTxAttrs): DmaMapResult {
  const n = ram.length;
  if (st.shadowUsed + n > st.shadowLimit) {
    st.exhausted++;
    return REFUSED_SHADOW;
  }
  const buf = isWrite ? new Uint8Array(n) : ram.slice();
  st.shadowUsed += n;
  return new DmaMapping(as, busAddr, buf, isWrite, 'private', attrs, null, 0, null, null);
}

function shadow(
  st: DmaAsState,
  origin: AddressSpace,
  busAddr: number,
  target: AddressSpace,
  targetAddr: number,
  n: number,
  isWrite: boolean,
  attrs: MemTxAttrs,
  iommu: Iommu,
  iova: number,
): DmaMapResult {
  if (st.shadowUsed + n > st.shadowLimit) {
    st.exhausted++;
    return REFUSED_SHADOW;
  }
  const buf = new Uint8Array(n);
  if (!isWrite) {
    const r = rwIn(target, targetAddr, buf, 0, n, false, attrs, 1);
    if (r !== MEMTX_OK) return new DmaMapRefused(r, false, 'shadow read failed');
  }
  st.shadowUsed += n;
  const rec = iommu.trackMapping(iova, n, attrs.requesterId);
  return new DmaMapping(origin, busAddr, buf, isWrite, 'shadow', attrs, target, targetAddr, iommu, rec);
}

function releaseBounce(st: DmaAsState, n: number): void {
  st.bounceUsed -= n;
  scheduleClients(st);
}

function scheduleClients(st: DmaAsState): void {
  if (st.clients.size === 0 || st.notifyQueued) return;
  st.notifyQueued = true;
  // Like QEMU's map clients (woken by a bottom half), never from inside the unmap call.
  queueMicrotask(() => {
    st.notifyQueued = false;
    const cbs = [...st.clients];
    st.clients.clear();
    for (const cb of cbs) {
      try {
        cb();
      } catch (e) {
        st.log(`dma: map client threw: ${(e as Error).message}`);
      }
    }
  });
}

/**
 * QEMU's cpu_register_map_client, per address space: `cb` runs once, soon
 * after bounce or shadow space is released on `as`. Re-register to wait again.
 */
export function registerMapClient(as: AddressSpace, cb: () => void): MapClient {
  const st = stateOf(as);
  st.clients.add(cb);
  return { cancel: () => void st.clients.delete(cb) };
}

/**
 * QEMU's address_space_unmap. `accessLen` is how many bytes from the start the
 * device actually used (written, for write mappings): only those are written
 * back from a bounce or shadow buffer. Returns the write-back's result.
 * Misuse (a mapping from elsewhere, a double unmap) is logged, counted and
 * answered with MEMTX_ERROR without touching any other mapping.
 */
export function dmaUnmap(as: AddressSpace, m: DmaMapping, accessLen: number): MemTxResult {
  const st = stateOf(as);
  if (!(m instanceof DmaMapping) || m.as !== as) {
    st.badUnmaps++;
    st.log(`dma ${as.name}: unmap of a mapping this address space never handed out (ignored)`);
    return MEMTX_ERROR;
  }
  if (!m.live) {
    st.badUnmaps++;
    st.log(`dma ${as.name}: double unmap of 0x${m.addr.toString(16)}+${m.length} (ignored)`);
    return MEMTX_ERROR;
  }
  m.live = false;
  st.live--;
  const used = Number.isInteger(accessLen) ? Math.max(0, Math.min(accessLen, m.length)) : 0;
  let r = MEMTX_OK;
  if (m.kind === 'bounce') {
    if (m.isWrite && used > 0) r = rwIn(as, m.addr, m.bytes, 0, used, true, m.attrs, 0);
    releaseBounce(st, m.length);
  } else if (m.kind === 'private') {
    // Through the address space as it is now: a PCI function whose bus mastering is off writes nothing.
    if (m.isWrite && used > 0) r = rwIn(as, m.addr, m.bytes, 0, used, true, m.attrs, 0);
    st.shadowUsed -= m.length;
    scheduleClients(st);
  } else if (m.kind === 'shadow') {
    const iommu = m.iommu!;
    const rec = m.record!;
    const allowed = iommu.releaseMapping(rec, m.isWrite ? used : 0);
    if (m.isWrite && used > 0) {
      r = allowed ? rwIn(m.target!, m.targetAddr, m.bytes, 0, used, true, m.attrs, 1) : MEMTX_ACCESS_ERROR;
    }
    // Only now, after the write-back, may an invalidation waiting on this mapping complete.
    iommu.mappingDone(rec);
    st.shadowUsed -= m.length;
    scheduleClients(st);
  }
  st.syncPoints.at('dma-unmap', `${as.name} unmap 0x${m.addr.toString(16)}+${m.length} ${m.kind}`);
  // Last: a removal waiting on this mapping may complete (and free the target) now.
  m.heldRegion?.release();
  m.heldOwner?.release();
  return r;
}
