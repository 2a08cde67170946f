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
import { hostLog } from '../../host/log.js';
import { dispatchRead, dispatchWrite, type DispatchSink } from '../../memory/dispatch.js';
import { RamFastPath } from '../../memory/ram-path.js';
import type { MemoryRegion } from '../../memory/region.js';
import { MEMTX_ACCESS_ERROR, MEMTX_DECODE_ERROR, MEMTX_OK, type MemTxAttrs, type MemTxResult } from '../../memory/types.js';
import type { ReplySink, RequestHandler, RequestPort } from './mailbox.js';
import { OP_ADDR_READ, OP_ADDR_WRITE, OP_DEV_READ, OP_DEV_WRITE } from './shared.js';
import { SNAP_IO, SNAP_IOMMU, SNAP_ROM, SNAP_ROMD, type SnapshotView } from './snapshot.js';

/**
 * RAM and ROM go through the memory core's RAM fast path (memory/ram-path.ts,
 * the same code AddressSpace runs) on the snapshot's tables; this class adds
 * only what differs in a realm: devices reached through their home realm.
 */
/**
 * A device of which a realm runs some accesses itself (posted-serial.ts) and
 * asks its home for the rest: tryRead returns the value, or -1 to ask;
 * tryWrite returns whether it took the write.
 */
export interface PartialDevice {
  tryRead(offset: number, size: number): number;
  tryWrite(offset: number, size: number, value: number): boolean;
}

/**
 * This realm's region for a portable device kind (snapshot.ts: DeviceHome.portable), its
 * partial device, or null to ask its home.
 */
export type PortableRegions = (kind: string) => MemoryRegion | PartialDevice | null;

export class RealmPhysMemory extends RamFastPath<SnapshotView> implements ReplySink, DispatchSink {
  epoch = 0;
  unassignedAccesses = 0;
  /** Requests sent to other realms. */
  remoteAccesses = 0;
  /**
   * Called after every request to another realm returns: a device access may
   * have changed this realm's interrupt lines (a hart clearing its own MSIP),
   * so the hart realm re-reads them at once instead of at its next boundary.
   */
  afterRequest: () => void = () => {};
  /** Per range of the adopted view: this realm's region for a portable device, else null. */
  private here: (MemoryRegion | null)[] = [];
  /** Per range: this realm's partial device, else null. */
  private partial: (PartialDevice | null)[] = [];

  constructor(
    view: SnapshotView,
    private readonly client: RequestPort,
    /** This realm's own devices (an I/O thread's), dispatched without a request; null for hart realms. */
    private readonly local: RequestHandler | null = null,
    private readonly portables: PortableRegions | null = null,
    readonly log: (message: string) => void = hostLog,
  ) {
    super(view);
    this.epoch = view.epoch;
    this.resolvePortables(view);
  }

  get snapshot(): SnapshotView {
    return this.view;
  }

  /** Switch to a newer snapshot. Call only where no access of this realm is in flight. */
  adopt(view: SnapshotView): void {
    this.setView(view);
    this.epoch = view.epoch;
    this.resolvePortables(view);
  }

  private resolvePortables(view: SnapshotView): void {
    const kinds = view.data.portable;
    const here = this.portables;
    const found = kinds.map((k) => (k !== null && here !== null ? here(k) : null));
    this.here = found.map((x) => (x !== null && !('tryRead' in x) ? x : null));
    this.partial = found.map((x) => (x !== null && 'tryRead' in x ? x : null));
  }

  protected loadOther(i: number, addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return this.ones(size, MEMTX_DECODE_ERROR);
    const v = this.view;
    if (i < 0) return this.ones(size, this.unassigned());
    if (addr + size > v.ends[i]! || Math.floor(addr) !== addr) return this.bytewiseLoad(addr, size, attrs);
    const k = v.kinds[i]!;
    if (k === SNAP_IO || k === SNAP_IOMMU) {
      if (attrs.memoryOnly) return this.ones(size, MEMTX_ACCESS_ERROR);
      const d = v.data;
      const target = d.realm[i]!;
      const op = k === SNAP_IO ? OP_DEV_READ : OP_ADDR_READ;
      const off = k === SNAP_IO ? addr - v.starts[i]! + d.devOff[i]! : addr;
      if (target === this.client.self && this.local !== null) {
        return this.local.serve(op, d.dev[i]!, off, size, 0, 0, attrs, this.client.self, this);
      }
      const pd = this.partial[i]!;
      if (pd !== null) {
        const v = pd.tryRead(off, size);
        if (v >= 0) {
          this.valLo = v;
          this.valHi = 0;
          return MEMTX_OK;
        }
      }
      const mr = this.here[i]!;
      if (mr !== null) {
        this.valLo = 0;
        this.valHi = 0;
        const r = dispatchRead(this, mr, off, size, attrs);
        this.afterRequest();
        return r;
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
      r |= this.load(addr + b, 1, attrs);
      const byte = this.valLo & 0xff;
      if (b < 4) lo |= byte << (8 * b);
      else hi |= byte << (8 * (b - 4));
    }
    this.valLo = lo >>> 0;
    this.valHi = hi >>> 0;
    return r;
  }

  protected storeOther(i: number, addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return MEMTX_DECODE_ERROR;
    const v = this.view;
    if (i < 0) return this.unassigned();
    if (addr + size > v.ends[i]! || Math.floor(addr) !== addr) {
      let r = MEMTX_OK;
      for (let b = 0; b < size; b++) {
        const byte = b < 4 ? (lo >>> (8 * b)) & 0xff : (hi >>> (8 * (b - 4))) & 0xff;
        r |= this.store(addr + b, 1, byte, 0, attrs);
      }
      return r;
    }
    const k = v.kinds[i]!;
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
      const pd = this.partial[i]!;
      if (pd !== null && pd.tryWrite(off, size, lo >>> 0)) return MEMTX_OK;
      const mr = this.here[i]!;
      if (mr !== null) {
        const r = dispatchWrite(this, mr, off, size, lo >>> 0, hi >>> 0, attrs);
        this.afterRequest();
        return r;
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
