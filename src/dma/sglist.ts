/**
 * Scatter-gather lists (QEMU's QEMUSGList) and the copies between an SG list
 * and a linear buffer (dma_buf_read / dma_buf_write). The async block helper
 * built on them is in block-io.ts.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { MEMTX_DECODE_ERROR, MEMTX_OK, MEMTXATTRS_UNSPECIFIED, type MemTxAttrs, type MemTxResult } from '../memory/types.js';
import { DMA_DIRECTION_FROM_DEVICE, DMA_DIRECTION_TO_DEVICE, dmaRw } from './dma.js';
import { validRange } from './errors.js';

export class SgList {
  private readonly bases: number[] = [];
  private readonly lens: number[] = [];
  /** Total bytes. */
  size = 0;

  constructor(
    /** The device's DMA address space. */
    readonly as: AddressSpace,
    readonly attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED,
  ) {}

  /**
   * Append [base, base + len). Guest-supplied values are checked: a range that
   * is malformed or overflows 2^53 is not added and `false` is returned (the
   * caller fails the request). Zero-length entries are accepted and ignored.
   */
  add(base: number, len: number): boolean {
    if (!validRange(base, len) || this.size > 2 ** 53 - len) return false;
    if (len === 0) return true;
    this.bases.push(base);
    this.lens.push(len);
    this.size += len;
    return true;
  }

  get count(): number {
    return this.bases.length;
  }

  base(i: number): number {
    return this.bases[i]!;
  }

  len(i: number): number {
    return this.lens[i]!;
  }

  clear(): void {
    this.bases.length = 0;
    this.lens.length = 0;
    this.size = 0;
  }
}

function copy(sg: SgList, buf: Uint8Array, toGuest: boolean): { result: MemTxResult; residual: number } {
  let r = MEMTX_OK;
  let off = 0;
  const n = sg.count;
  for (let i = 0; i < n && off < buf.length; i++) {
    const l = Math.min(sg.len(i), buf.length - off);
    const part = buf.subarray(off, off + l);
    r |= dmaRw(sg.as, sg.base(i), part, toGuest ? DMA_DIRECTION_FROM_DEVICE : DMA_DIRECTION_TO_DEVICE, sg.attrs);
    off += l;
  }
  return { result: r, residual: Math.max(0, sg.size - off) };
}

/**
 * QEMU's dma_buf_read: copy `buf` (device data) into the guest buffers
 * described by `sg`, up to the shorter of the two. `residual` is how many bytes
 * of the SG list were not covered.
 */
export function dmaBufRead(buf: Uint8Array, sg: SgList): { result: MemTxResult; residual: number } {
  return copy(sg, buf, true);
}

/** QEMU's dma_buf_write: copy the guest buffers described by `sg` into `buf`. */
export function dmaBufWrite(buf: Uint8Array, sg: SgList): { result: MemTxResult; residual: number } {
  return copy(sg, buf, false);
}

/** A result to use when a guest-supplied SG entry was rejected by `add`. */
export const SG_BAD_ENTRY: MemTxResult = MEMTX_DECODE_ERROR;
