/**
 * Guest physical memory as a non-main realm sees it: the adopted flat-view
 * snapshot, RAM and ROM read and written directly in the shared buffers, and
 * devices reached through their home realm's mailbox (or dispatched locally
 * when this realm is their home). Implements the memory core's PhysMemory, so
 * a Hart runs on it unchanged; `epoch` changes when a newer snapshot is
 * adopted, which makes the hart drop its TLB.
 *
 * Semantics follow AddressSpace: unassigned addresses and reservations read
 * all-ones with MEMTX_DECODE_ERROR; ROM writes are dropped (not counted: the
 * counter lives with the region in the main realm); `memoryOnly` accesses to
 * anything but RAM/ROM fail with MEMTX_ACCESS_ERROR.
 */
import { MEMTX_ACCESS_ERROR, MEMTX_DECODE_ERROR, MEMTX_OK, type MemTxAttrs, type MemTxResult, type PhysMemory, type RamPtr } from '../../memory/types.js';
import type { ReplySink, RequestHandler, RequestPort } from './mailbox.js';
import { OP_ADDR_READ, OP_ADDR_WRITE, OP_DEV_READ, OP_DEV_WRITE } from './shared.js';
import { SNAP_IO, SNAP_IOMMU, SNAP_RAM, SNAP_ROM, SNAP_ROMD, SnapshotView } from './snapshot.js';

const EMPTY_DV = new DataView(new SharedArrayBuffer(8));

export class RealmPhysMemory implements PhysMemory, ReplySink {
  epoch = 0;
  valLo = 0;
  valHi = 0;
  unassignedAccesses = 0;
  /** Requests sent to other realms. */
  remoteAccesses = 0;
  /**
   * Called after every request to another realm returns: a device access may
   * have changed this realm's interrupt lines (a hart clearing its own MSIP),
   * so the hart realm re-reads them at once instead of at its next boundary.
   */
  afterRequest: () => void = () => {};
  private view: SnapshotView;
  // Last RAM range used for loads (also ROM/ROMD) and for stores.
  private rdStart = 0;
  private rdLen = 0;
  private rdDv: DataView = EMPTY_DV;
  private wrStart = 0;
  private wrLen = 0;
  private wrDv: DataView = EMPTY_DV;

  constructor(
    view: SnapshotView,
    private readonly client: RequestPort,
    /** This realm's own devices (an I/O thread's), dispatched without a request; null for hart realms. */
    private readonly local: RequestHandler | null = null,
  ) {
    this.view = view;
    this.epoch = view.epoch;
  }

  get snapshot(): SnapshotView {
    return this.view;
  }

  /** Switch to a newer snapshot. Call only where no access of this realm is in flight. */
  adopt(view: SnapshotView): void {
    this.view = view;
    this.epoch = view.epoch;
    this.rdStart = this.rdLen = this.wrStart = this.wrLen = 0;
    this.rdDv = this.wrDv = EMPTY_DV;
  }

  ramPtr(addr: number, len: number, isWrite: boolean): RamPtr | null {
    const v = this.view;
    const i = v.findIndex(addr);
    if (i < 0 || !(len > 0) || addr + len > v.ends[i]!) return null;
    const k = v.kinds[i]!;
    if (!(k === SNAP_RAM || (!isWrite && (k === SNAP_ROM || k === SNAP_ROMD)))) return null;
    const start = v.starts[i]!;
    return { bytes: v.bytes[i]!, offset: addr - start, base: start, length: v.ends[i]! - start };
  }

  load(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    const o = addr - this.rdStart;
    if (o >= 0 && o + size <= this.rdLen) {
      const dv = this.rdDv;
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
    return this.loadSlow(addr, size, attrs);
  }

  private loadSlow(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return this.ones(size, MEMTX_DECODE_ERROR);
    const v = this.view;
    const i = v.findIndex(addr);
    if (i < 0) return this.ones(size, this.unassigned());
    if (addr + size > v.ends[i]! || Math.floor(addr) !== addr) return this.bytewiseLoad(addr, size, attrs);
    const k = v.kinds[i]!;
    if (k === SNAP_RAM || k === SNAP_ROM || k === SNAP_ROMD) {
      this.rdStart = v.starts[i]!;
      this.rdLen = v.ends[i]! - this.rdStart;
      this.rdDv = v.dvs[i]!;
      return this.load(addr, size, attrs);
    }
    if (k === SNAP_IO || k === SNAP_IOMMU) {
      if (attrs.memoryOnly) return this.ones(size, MEMTX_ACCESS_ERROR);
      const d = v.data;
      const target = d.realm[i]!;
      const op = k === SNAP_IO ? OP_DEV_READ : OP_ADDR_READ;
      const off = k === SNAP_IO ? addr - v.starts[i]! + d.devOff[i]! : addr;
      if (target === this.client.self && this.local !== null) {
        return this.local.serve(op, d.dev[i]!, off, size, 0, 0, attrs, this.client.self, this);
      }
      this.remoteAccesses++;
      const r = this.client.request(target, op, d.dev[i]!, off, size, 0, 0, attrs);
      this.valLo = this.client.valLo;
      this.valHi = this.client.valHi;
      this.afterRequest();
      return r;
    }
    return this.ones(size, this.unassigned());
  }

  /** An access straddling ranges: byte by byte, results OR'd (rare: misaligned at a boundary). */
  private bytewiseLoad(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    let lo = 0;
    let hi = 0;
    let r = MEMTX_OK;
    for (let b = 0; b < size; b++) {
      r |= this.loadSlow(addr + b, 1, attrs);
      const byte = this.valLo & 0xff;
      if (b < 4) lo |= byte << (8 * b);
      else hi |= byte << (8 * (b - 4));
    }
    this.valLo = lo >>> 0;
    this.valHi = hi >>> 0;
    return r;
  }

  store(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const o = addr - this.wrStart;
    if (o >= 0 && o + size <= this.wrLen) {
      const dv = this.wrDv;
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
    return this.storeSlow(addr, size, lo, hi, attrs);
  }

  private storeSlow(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return MEMTX_DECODE_ERROR;
    const v = this.view;
    const i = v.findIndex(addr);
    if (i < 0) return this.unassigned();
    if (addr + size > v.ends[i]! || Math.floor(addr) !== addr) {
      let r = MEMTX_OK;
      for (let b = 0; b < size; b++) {
        const byte = b < 4 ? (lo >>> (8 * b)) & 0xff : (hi >>> (8 * (b - 4))) & 0xff;
        r |= this.storeSlow(addr + b, 1, byte, 0, attrs);
      }
      return r;
    }
    const k = v.kinds[i]!;
    if (k === SNAP_RAM) {
      this.wrStart = v.starts[i]!;
      this.wrLen = v.ends[i]! - this.wrStart;
      this.wrDv = v.dvs[i]!;
      return this.store(addr, size, lo, hi, attrs);
    }
    if (k === SNAP_ROM) return MEMTX_OK;
    if (k === SNAP_IO || k === SNAP_ROMD || k === SNAP_IOMMU) {
      if (attrs.memoryOnly) return MEMTX_ACCESS_ERROR;
      const d = v.data;
      const target = d.realm[i]!;
      const op = k === SNAP_IOMMU ? OP_ADDR_WRITE : OP_DEV_WRITE;
      const off = k === SNAP_IOMMU ? addr : addr - v.starts[i]! + d.devOff[i]!;
      if (target === this.client.self && this.local !== null) {
        return this.local.serve(op, d.dev[i]!, off, size, lo >>> 0, hi >>> 0, attrs, this.client.self, this);
      }
      this.remoteAccesses++;
      const r = this.client.request(target, op, d.dev[i]!, off, size, lo >>> 0, hi >>> 0, attrs);
      this.afterRequest();
      return r;
    }
    return this.unassigned();
  }

  private unassigned(): MemTxResult {
    this.unassignedAccesses++;
    return MEMTX_DECODE_ERROR;
  }

  private ones(size: number, r: MemTxResult): MemTxResult {
    this.valLo = size >= 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    this.valHi = size === 8 ? 0xffffffff : 0;
    return r;
  }

  /** Copy guest memory into buf (DMA by a device living in this realm); failed bytes read 0xff. */
  read(addr: number, buf: Uint8Array, attrs: MemTxAttrs): MemTxResult {
    let r = MEMTX_OK;
    for (let b = 0; b < buf.length; b++) {
      r |= this.load(addr + b, 1, attrs);
      buf[b] = this.valLo & 0xff;
    }
    return r;
  }

  /** Copy buf into guest memory. */
  write(addr: number, buf: Uint8Array, attrs: MemTxAttrs): MemTxResult {
    let r = MEMTX_OK;
    for (let b = 0; b < buf.length; b++) r |= this.store(addr + b, 1, buf[b]!, 0, attrs);
    return r;
  }
}
