/**
 * The RAM fast path: the one implementation every guest-memory accessor uses
 * (the main realm's AddressSpace, a hart or I/O-thread realm's
 * RealmPhysMemory), so the code a worker runs for a RAM access is the code the
 * memory core tests.
 *
 * An accessor remembers the RAM range (for loads also ROM and ROM devices in
 * romd mode) of its last direct load and of its last direct store: a hit is a
 * bounds check and a DataView access, with no lookup and no allocation. A miss
 * looks the address up in the flat view's own lookup tables (`RamTables`: the
 * FlatView itself, or a realm's snapshot of the same tables) with the memory
 * core's one walker, caches a RAM range it lands in, and hands anything else
 * (I/O, unassigned, straddling accesses) to the accessor's own `loadOther` /
 * `storeOther`: how a device is reached is what differs between realms.
 */
import { RANGE_RAM, RANGE_ROM, RANGE_ROMD } from './flatview.js';
import { MEMTX_OK, type MemTxAttrs, type MemTxResult, type PhysMemory, type RamPtr } from './types.js';

/** What the fast path reads of a flat view (FlatView and a realm's SnapshotView both are these). */
export interface RamTables {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  /** RANGE_* per range. */
  readonly kinds: Uint8Array;
  /** Per range: exactly the range's bytes for RAM, ROM and ROMD, else an empty array. */
  readonly bytes: readonly Uint8Array[];
  /** The same bytes as a DataView (made once per view, never per access). */
  readonly dvs: readonly DataView[];
  /** Index of the range containing addr, or -1 (the memory core's flatFindIndex). */
  findIndex(addr: number): number;
}

const EMPTY_DV = new DataView(new SharedArrayBuffer(8));

export abstract class RamFastPath<V extends RamTables> implements PhysMemory {
  abstract readonly epoch: number;
  // -0, not 0: doubles from the start, as unsigned 32-bit halves exceed V8's small integers
  // (a device register with its top bit set): a field changing representation changes the
  // object's map and deoptimises every function optimised against it.
  valLo = -0;
  valHi = -0;
  /** The flat view accesses go through (replace it with `setView`). */
  protected view: V;
  // The RAM (loads: also ROM/ROMD) range of the last direct load and the RAM
  // range of the last direct store. A fractional address can only get here
  // from a caller bug; it is truncated by DataView.
  private rdStart = 0;
  private rdLen = 0;
  private rdView: DataView = EMPTY_DV;
  private wrStart = 0;
  private wrLen = 0;
  private wrView: DataView = EMPTY_DV;

  constructor(view: V) {
    this.view = view;
  }

  /** Switch views; the cached ranges belonged to the old one. */
  protected setView(view: V): void {
    this.view = view;
    this.rdStart = this.rdLen = this.wrStart = this.wrLen = 0;
    this.rdView = this.wrView = EMPTY_DV;
  }

  ramPtr(addr: number, len: number, isWrite: boolean): RamPtr | null {
    if (!(len > 0) || Math.floor(addr) !== addr) return null;
    const t = this.view;
    const i = t.findIndex(addr);
    if (i < 0 || addr + len > t.ends[i]!) return null;
    const k = t.kinds[i]!;
    if (!(k === RANGE_RAM || (!isWrite && (k === RANGE_ROM || k === RANGE_ROMD)))) return null;
    const start = t.starts[i]!;
    return { bytes: t.bytes[i]!, offset: addr - start, base: start, length: t.ends[i]! - start };
  }

  load(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    const o = addr - this.rdStart;
    if (o >= 0 && o + size <= this.rdLen) {
      const dv = this.rdView;
      if (size === 4) {
        this.valLo = dv.getUint32(o, true);
        this.valHi = 0;
        return MEMTX_OK;
      }
      if (size === 8) {
        this.valLo = dv.getUint32(o, true);
        this.valHi = dv.getUint32(o + 4, true);
        return MEMTX_OK;
      }
      if (size === 1) {
        this.valLo = dv.getUint8(o);
        this.valHi = 0;
        return MEMTX_OK;
      }
      if (size === 2) {
        this.valLo = dv.getUint16(o, true);
        this.valHi = 0;
        return MEMTX_OK;
      }
    }
    return this.loadMiss(addr, size, attrs);
  }

  store(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const o = addr - this.wrStart;
    if (o >= 0 && o + size <= this.wrLen) {
      const dv = this.wrView;
      if (size === 4) {
        dv.setUint32(o, lo, true);
        return MEMTX_OK;
      }
      if (size === 8) {
        dv.setUint32(o, lo, true);
        dv.setUint32(o + 4, hi, true);
        return MEMTX_OK;
      }
      if (size === 1) {
        dv.setUint8(o, lo);
        return MEMTX_OK;
      }
      if (size === 2) {
        dv.setUint16(o, lo, true);
        return MEMTX_OK;
      }
    }
    return this.storeMiss(addr, size, lo, hi, attrs);
  }

  /** A load the cached range did not cover (an accessor may check a cache of its own first). */
  protected loadMiss(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    return this.loadLookup(addr, size, attrs);
  }

  protected storeMiss(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    return this.storeLookup(addr, size, lo, hi, attrs);
  }

  /** Look the load up; inside one RAM/ROM/ROMD range: cache the range and load, else loadOther. */
  protected loadLookup(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    const t = this.view;
    const i = t.findIndex(addr);
    if (i >= 0 && addr + size <= t.ends[i]! && Math.floor(addr) === addr && t.kinds[i]! <= RANGE_ROMD && (size === 4 || size === 8 || size === 1 || size === 2)) {
      const start = t.starts[i]!;
      this.rdStart = start;
      this.rdLen = t.ends[i]! - start;
      this.rdView = t.dvs[i]!;
      return this.load(addr, size, attrs);
    }
    return this.loadOther(i, addr, size, attrs);
  }

  /** Look the store up; inside one RAM range: cache the range and store, else storeOther. */
  protected storeLookup(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const t = this.view;
    const i = t.findIndex(addr);
    if (i >= 0 && addr + size <= t.ends[i]! && Math.floor(addr) === addr && t.kinds[i]! === RANGE_RAM && (size === 4 || size === 8 || size === 1 || size === 2)) {
      const start = t.starts[i]!;
      this.wrStart = start;
      this.wrLen = t.ends[i]! - start;
      this.wrView = t.dvs[i]!;
      return this.store(addr, size, lo, hi, attrs);
    }
    return this.storeOther(i, addr, size, lo, hi, attrs);
  }

  /**
   * Anything but a direct RAM access: `i` is the range containing addr (-1:
   * none); the access may straddle its end, have an odd size or address, or
   * target I/O, an IOMMU, a reservation or (stores) ROM.
   */
  protected abstract loadOther(i: number, addr: number, size: number, attrs: MemTxAttrs): MemTxResult;
  protected abstract storeOther(i: number, addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult;
}
