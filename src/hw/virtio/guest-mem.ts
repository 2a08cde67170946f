import type { MemTxAttrs, MemTxResult, PhysMemory } from '../../memory/types.js';
import { MEMTX_OK } from '../../memory/types.js';

/**
 * What a virtio device needs of its DMA address space: the hart-style fast
 * path (ramPtr, load/store) plus bulk copies. AddressSpace implements it.
 */
export interface DmaMemory extends PhysMemory {
  read(addr: number, buf: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
  write(addr: number, buf: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
}

/**
 * A guest-memory window (a virtqueue ring) resolved once to a direct view of
 * RAM when it lies wholly in RAM, re-resolved when the address space's flat
 * view changes. Rings outside RAM fall back to dispatch, one field at a time.
 */
export class RingWindow {
  private bytes: Uint8Array | null = null;
  private view: DataView | null = null;
  private off = 0;
  private epoch = -1;

  constructor(
    private readonly mem: DmaMemory,
    private readonly attrs: MemTxAttrs,
    public addr = 0,
    public len = 0,
  ) {}

  set(addr: number, len: number): void {
    this.addr = addr;
    this.len = len;
    this.epoch = -1;
  }

  private resolve(): void {
    this.epoch = this.mem.epoch;
    const p = this.len > 0 ? this.mem.ramPtr(this.addr, this.len, true) : null;
    if (p) {
      this.bytes = p.bytes;
      this.view = new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
      this.off = p.offset;
    } else {
      this.bytes = null;
      this.view = null;
    }
  }

  /** Returns -1 when the read fails (ring outside memory). */
  u16(at: number): number {
    if (this.epoch !== this.mem.epoch) this.resolve();
    if (this.view) return this.view.getUint16(this.off + at, true);
    return this.mem.load(this.addr + at, 2, this.attrs) === MEMTX_OK ? this.mem.valLo & 0xffff : -1;
  }

  u32(at: number): number {
    if (this.epoch !== this.mem.epoch) this.resolve();
    if (this.view) return this.view.getUint32(this.off + at, true);
    return this.mem.load(this.addr + at, 4, this.attrs) === MEMTX_OK ? this.mem.valLo >>> 0 : -1;
  }

  /** 64-bit little-endian value as a JS number; values >= 2^53 come back as Infinity (never a valid address). */
  u64(at: number): number {
    const lo = this.u32(at);
    const hi = this.u32(at + 4);
    if (lo < 0 || hi < 0) return -1;
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  }

  setU16(at: number, v: number): boolean {
    if (this.epoch !== this.mem.epoch) this.resolve();
    if (this.view) {
      this.view.setUint16(this.off + at, v, true);
      return true;
    }
    return this.mem.store(this.addr + at, 2, v & 0xffff, 0, this.attrs) === MEMTX_OK;
  }

  setU32(at: number, v: number): boolean {
    if (this.epoch !== this.mem.epoch) this.resolve();
    if (this.view) {
      this.view.setUint32(this.off + at, v >>> 0, true);
      return true;
    }
    return this.mem.store(this.addr + at, 4, v >>> 0, 0, this.attrs) === MEMTX_OK;
  }

  /** True when the window is a direct RAM view (used by tests and diagnostics). */
  get direct(): boolean {
    if (this.epoch !== this.mem.epoch) this.resolve();
    return this.bytes !== null;
  }
}

/**
 * A ring address written as two 32-bit register halves: replace the low or
 * high half of `old`. Addresses at or above 2^53 cannot be represented and
 * become Infinity, which never resolves to memory (the queue breaks cleanly).
 */
export function setAddrHalf(old: number, value: number, high: boolean): number {
  const lo = high ? old % 0x100000000 : value >>> 0;
  const hi = high ? value >>> 0 : Math.floor(old / 0x100000000);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}
