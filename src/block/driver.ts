/**
 * The block layer's contract (QEMU's BlockDriverState, reduced): a device
 * talks to a BlockDriver; format drivers (raw, qcow2) sit on a protocol
 * driver (the host file) and may have a backing driver. Every method is
 * asynchronous and never throws synchronously; a rejection is a host or
 * image error that the device turns into a guest-visible I/O error.
 */

/** A host error opening or using a disk image; the CLI prints its message and exits 1. */
export class BlockError extends Error {
  /** errno-style code of the host failure when there was one (ENOSPC, EROFS, EPERM...). */
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'BlockError';
    if (code !== undefined) this.code = code;
  }
}

export interface BlockDriver {
  /** Virtual size in bytes (what the guest sees). */
  readonly size: number;
  readonly readonly: boolean;
  /** Fill `bufs` in order from virtual byte `offset` (zeros past the end of the data). */
  readv(bufs: Uint8Array[], offset: number): Promise<void>;
  /** Gather-write `bufs` in order at virtual byte `offset`. */
  writev(bufs: Uint8Array[], offset: number): Promise<void>;
  /** Make every write that completed before the call durable (data and metadata). */
  flush(): Promise<void>;
  /** Reads of the range return zeros afterwards. */
  writeZeroes(offset: number, len: number): Promise<void>;
  /**
   * The guest no longer needs the range. With discard=unmap the space is
   * given back to the host (a hole, a freed cluster) and the range reads as
   * zeros; with discard=ignore (QEMU's default) the range is zeroed.
   */
  discard(offset: number, len: number): Promise<void>;
  /** Release host resources; pending data should have been flushed. */
  close(): Promise<void>;
}

/** QEMU's cache= modes. */
export type CacheMode = 'writeback' | 'none' | 'writethrough' | 'directsync' | 'unsafe';
export const CACHE_MODES: readonly CacheMode[] = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'];

/** What a host error code means for the guest-visible event (QMP BLOCK_IO_ERROR's `nospace`). */
export function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
