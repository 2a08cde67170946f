/**
 * Dispatch of one access to one I/O region (QEMU's memory_region_dispatch_*
 * and access_with_adjusted_size).
 *
 * 1. Validity: the guest-visible size must lie in valid.min..valid.max, be
 *    aligned unless valid.unaligned, and pass valid.accepts. Otherwise the
 *    access fails with DECODE_ERROR, reads give all-ones, and no callback runs.
 * 0. Lifetime: the access enters the region's Lifetime before any device
 *    code (even `valid.accepts`) runs, and exits it when the callbacks
 *    return. A region being destroyed (or destroyed) refuses: the access
 *    decodes as unassigned (all-ones, DECODE_ERROR) and no callback runs; one
 *    that reaches a region whose removal already completed came through a
 *    stale reference and is reported in debug mode (see lifetime.ts).
 * 2. Reentrancy: if the region is guarded and its owner's guard is engaged,
 *    the access fails with ACCESS_ERROR (counted, logged once per region).
 * 3. Pieces: the access is carried out with callback accesses of
 *    clamp(size, impl.min, impl.max) bytes (an 8-byte piece is one callback
 *    with the value's two halves). Without impl.unaligned the pieces
 *    are naturally aligned and cover the access (so an unaligned or narrow
 *    access is widened to the aligned pieces around it); with it, pieces start
 *    at the access address. Each piece's value is laid out in memory order
 *    by the device's endianness; the guest value is the access's bytes read
 *    little-endian. Bytes of a widened write outside the access are zero
 *    (as in QEMU: no read-modify-write, since reads can have side effects).
 *    Results of the pieces are OR'd.
 *
 * Module state: a callback nesting depth indexing scratch buffers, so that an
 * access made from inside a callback (DMA) never clobbers the outer one's.
 */
import { MEMTX_ACCESS_ERROR, MEMTX_DECODE_ERROR, MEMTX_OK, type MemTxAttrs, type MemTxResult } from './types.js';
import type { MemoryRegion } from './region.js';

/** Where dispatch leaves a read's value, and how it reports refusals. */
export interface DispatchSink {
  valLo: number;
  valHi: number;
  log(message: string): void;
}

/** Callback nesting depth: 0 outside callbacks; callbacks of a level-d access run at d + 1. */
let depth = 0;
const pieceScratch: Uint8Array[] = [];
const out32: Uint32Array[] = [];

function scratchAt(d: number): Uint8Array {
  let s = pieceScratch[d];
  if (!s) {
    s = new Uint8Array(32);
    pieceScratch[d] = s;
    out32[d] = new Uint32Array(2);
  }
  return s;
}
scratchAt(0);

/** Current callback nesting depth (0 outside any device callback). */
export function dispatchDepth(): number {
  return depth;
}

/** All-ones for a value of `size` bytes, low half. */
export function onesLo(size: number): number {
  return size >= 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

function mask(v: number, size: number): number {
  return size >= 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

/** A value of `size` (1, 2 or 4) bytes byte-swapped; callers swap an 8-byte value's halves and exchange them. */
function swap(v: number, size: number): number {
  if (size === 2) return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
  if (size === 4) return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
  return v;
}

let pieceVal = 0;
/** The high half of the last 8-byte piece (read only for 8-byte pieces, which set it). */
let pieceHi = 0;

/** Call the read callback at depth+1 (the caller maintains depth); value in pieceVal (and pieceHi for 8 bytes). */
function callRead(mr: MemoryRegion, off: number, size: number, attrs: MemTxAttrs): MemTxResult {
  const rwa = mr.readWithAttrsFn;
  if (rwa !== null) {
    const o = out32[depth - 1]!;
    o[0] = 0;
    o[1] = 0;
    const r = rwa(off, size, attrs, o);
    pieceVal = mask(o[0]!, size);
    if (size === 8) pieceHi = o[1]!;
    return r;
  }
  // Only regions with impl.max <= 4 have read() (region.ts checks).
  const rf = mr.readFn;
  pieceVal = rf !== null ? mask(rf(off, size, attrs), size) : 0;
  return MEMTX_OK;
}

/** Byte `k` (in memory order) of the last piece read, of `ps` bytes. */
function pieceByte(k: number, ps: number, be: boolean): number {
  const b = be ? ps - 1 - k : k;
  return (b < 4 ? pieceVal >>> (8 * b) : pieceHi >>> (8 * (b - 4))) & 0xff;
}

function callWrite(mr: MemoryRegion, off: number, value: number, size: number, attrs: MemTxAttrs, hi: number): MemTxResult {
  const wwa = mr.writeWithAttrsFn;
  if (wwa !== null) return wwa(off, value, size, attrs, hi);
  const wf = mr.writeFn;
  if (wf !== null) wf(off, value, size, attrs);
  return MEMTX_OK;
}

function accessValid(mr: MemoryRegion, off: number, size: number, isWrite: boolean, attrs: MemTxAttrs): boolean {
  if (size < mr.validMin || size > mr.validMax || (size & (size - 1)) !== 0) return false;
  if (!mr.validUnaligned && (off & (size - 1)) !== 0) return false;
  if (mr.hasAccepts && !mr.validAccepts(off, size, isWrite, attrs)) return false;
  return true;
}

/** The region is being removed or gone: decode as unassigned; report a stale reference in debug mode. */
function removedRead(sink: DispatchSink, mr: MemoryRegion, size: number): MemTxResult {
  mr.tracker.check('dispatch');
  sink.valLo = onesLo(size);
  sink.valHi = size === 8 ? 0xffffffff : 0;
  return MEMTX_DECODE_ERROR;
}

function removedWrite(mr: MemoryRegion): MemTxResult {
  mr.tracker.check('dispatch');
  return MEMTX_DECODE_ERROR;
}

function refuse(sink: DispatchSink, mr: MemoryRegion): MemTxResult {
  mr.reentrancyRefusals++;
  mr.owner!.reentrancyGuard.refused++;
  if (!mr.reentrancyLogged) {
    mr.reentrancyLogged = true;
    sink.log(
      `memory: blocked re-entrant access to '${mr.name}' while device '${mr.owner!.name}' is handling an access ` +
        `(reentrancy guard; logged once per region)`,
    );
  }
  return MEMTX_ACCESS_ERROR;
}

/**
 * Read `size` (1, 2, 4 or 8) bytes at offset `off` of I/O region `mr`. The
 * value goes to sink.valLo / sink.valHi.
 */
export function dispatchRead(sink: DispatchSink, mr: MemoryRegion, off: number, size: number, attrs: MemTxAttrs): MemTxResult {
  if (mr.ops === null) return unassignedRead(sink, size);
  // The tracker's enter/exit, inlined (see LifetimeTracker): a counter in a realm, a per-task Lifetime in the explorer.
  const t = mr.tracker;
  const lt = t.taskLifetime;
  if (lt === null) {
    if (!t.open) return removedRead(sink, mr, size);
    t.entered++;
  } else if (!lt.tryEnter()) return removedRead(sink, mr, size);
  let guard = null;
  const d = depth;
  try {
    if (!accessValid(mr, off, size, false, attrs)) {
      sink.valLo = onesLo(size);
      sink.valHi = size === 8 ? 0xffffffff : 0;
      return MEMTX_DECODE_ERROR;
    }
    if (mr.guarded) {
      const g = mr.owner!.reentrancyGuard;
      if (g.engaged) {
        sink.valLo = onesLo(size);
        sink.valHi = size === 8 ? 0xffffffff : 0;
        return refuse(sink, mr);
      }
      g.engaged = true;
      guard = g;
    }
    scratchAt(d + 1);
    depth = d + 1;
    if (size >= mr.implMin && size <= mr.implMax && (mr.implUnaligned || (off & (size - 1)) === 0)) {
      const r = callRead(mr, off, size, attrs);
      if (size === 8) {
        const be = mr.bigEndian;
        sink.valLo = be ? swap(pieceHi, 4) : pieceVal;
        sink.valHi = be ? swap(pieceVal, 4) : pieceHi;
      } else {
        sink.valLo = mr.bigEndian ? swap(pieceVal, size) : pieceVal;
        sink.valHi = 0;
      }
      return r;
    }
    return readPieces(sink, mr, off, size, attrs, d);
  } finally {
    depth = d;
    if (guard) guard.engaged = false;
    if (lt === null) {
      if (--t.entered === 0 && !t.open) t.accessesDrained();
    } else lt.exit();
  }
}

/** A region without ops (a reservation reached directly): unassigned. */
function unassignedRead(sink: DispatchSink, size: number): MemTxResult {
  sink.valLo = onesLo(size);
  sink.valHi = size === 8 ? 0xffffffff : 0;
  return MEMTX_DECODE_ERROR;
}

function pieceSize(mr: MemoryRegion, size: number): number {
  return size < mr.implMin ? mr.implMin : size > mr.implMax ? mr.implMax : size;
}

/** Where the pieces of an access at `off` start: aligned to the piece size unless the region takes unaligned accesses. */
function piecesStart(mr: MemoryRegion, off: number, ps: number): number {
  return mr.implUnaligned ? off : off - (off & (ps - 1));
}

/** Where the pieces of an access of `size` bytes at `off` end (see piecesStart). */
function piecesEnd(mr: MemoryRegion, off: number, size: number, ps: number): number {
  return mr.implUnaligned ? off + Math.ceil(size / ps) * ps : Math.ceil((off + size) / ps) * ps;
}

function readPieces(sink: DispatchSink, mr: MemoryRegion, off: number, size: number, attrs: MemTxAttrs, d: number): MemTxResult {
  const ps = pieceSize(mr, size);
  const start = piecesStart(mr, off, ps);
  const end = piecesEnd(mr, off, size, ps);
  const buf = scratchAt(d);
  const be = mr.bigEndian;
  let r = MEMTX_OK;
  for (let p = start; p < end; p += ps) {
    r |= callRead(mr, p, ps, attrs);
    const b = p - start;
    for (let k = 0; k < ps; k++) buf[b + k] = pieceByte(k, ps, be);
  }
  const o = off - start;
  let lo = 0;
  const nlo = size < 4 ? size : 4;
  for (let k = nlo - 1; k >= 0; k--) lo = (lo << 8) | buf[o + k]!;
  let hi = 0;
  if (size === 8) for (let k = 7; k >= 4; k--) hi = (hi << 8) | buf[o + k]!;
  sink.valLo = lo >>> 0;
  sink.valHi = hi >>> 0;
  return r;
}

/** Write `size` bytes (value lo, and hi for 8 bytes) at offset `off` of I/O region `mr`. */
export function dispatchWrite(
  sink: DispatchSink,
  mr: MemoryRegion,
  off: number,
  size: number,
  lo: number,
  hi: number,
  attrs: MemTxAttrs,
): MemTxResult {
  if (mr.ops === null) return MEMTX_DECODE_ERROR;
  const t = mr.tracker;
  const lt = t.taskLifetime;
  if (lt === null) {
    if (!t.open) return removedWrite(mr);
    t.entered++;
  } else if (!lt.tryEnter()) return removedWrite(mr);
  let guard = null;
  const d = depth;
  try {
    if (!accessValid(mr, off, size, true, attrs)) return MEMTX_DECODE_ERROR;
    if (mr.guarded) {
      const g = mr.owner!.reentrancyGuard;
      if (g.engaged) return refuse(sink, mr);
      g.engaged = true;
      guard = g;
    }
    scratchAt(d + 1);
    depth = d + 1;
    if (size >= mr.implMin && size <= mr.implMax && (mr.implUnaligned || (off & (size - 1)) === 0)) {
      if (size === 8) {
        return mr.bigEndian ? callWrite(mr, off, swap(hi >>> 0, 4), 8, attrs, swap(lo >>> 0, 4)) : callWrite(mr, off, lo >>> 0, 8, attrs, hi >>> 0);
      }
      const v = mask(lo, size);
      return callWrite(mr, off, mr.bigEndian ? swap(v, size) : v, size, attrs, 0);
    }
    return writePieces(mr, off, size, lo, hi, attrs, d);
  } finally {
    depth = d;
    if (guard) guard.engaged = false;
    if (lt === null) {
      if (--t.entered === 0 && !t.open) t.accessesDrained();
    } else lt.exit();
  }
}

function writePieces(mr: MemoryRegion, off: number, size: number, lo: number, hi: number, attrs: MemTxAttrs, d: number): MemTxResult {
  const ps = pieceSize(mr, size);
  const start = piecesStart(mr, off, ps);
  const end = piecesEnd(mr, off, size, ps);
  const buf = scratchAt(d);
  buf.fill(0, 0, end - start);
  const o = off - start;
  for (let k = 0; k < size; k++) buf[o + k] = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
  const be = mr.bigEndian;
  let r = MEMTX_OK;
  for (let p = start; p < end; p += ps) {
    const b = p - start;
    let v = 0;
    let vHi = 0;
    for (let k = 0; k < ps; k++) {
      const bit = 8 * (be ? ps - 1 - k : k);
      if (bit < 32) v |= buf[b + k]! << bit;
      else vHi |= buf[b + k]! << (bit - 32);
    }
    r |= callWrite(mr, p, v >>> 0, ps, attrs, vHi >>> 0);
  }
  return r;
}

/**
 * The largest access size to use at offset `off` of `mr` for `len` remaining
 * bytes of a buffer access (QEMU's memory_access_size): at most valid.max,
 * naturally aligned unless the device accepts unaligned accesses, a power of two.
 */
export function bufferAccessSize(mr: MemoryRegion, off: number, len: number): number {
  let max = mr.validMax;
  if (!mr.validUnaligned) {
    let a = 1;
    // Sizes are powers of two and offsets integers < 2^53: & sees the low bits exactly.
    while (a < max && (off & (a * 2 - 1)) === 0) a *= 2;
    max = a;
  }
  let l = len < max ? len : max;
  // Round down to a power of two.
  if (l >= 8) l = 8;
  else if (l >= 4) l = 4;
  else if (l >= 2) l = 2;
  else l = 1;
  return l;
}
