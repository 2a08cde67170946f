/**
 * The vocabulary of the memory core, shared by every device, the harts and DMA.
 *
 * Values crossing the dispatch boundary are 32-bit pieces held in JS numbers:
 * a 64-bit access is carried as two unsigned 32-bit halves (lo, hi) so that no
 * BigInt is allocated on a hot path. Device callbacks (MemoryRegionOps) see
 * accesses of at most impl.max bytes; wider guest accesses are split by the
 * core, exactly as QEMU splits accesses wider than a device's impl.max_access_size.
 * A device whose 64-bit registers must be read and written whole (an 8-byte
 * counter, which two 4-byte reads could tear) declares impl.max 8 and takes the
 * value as two halves through the *WithAttrs callbacks.
 *
 * Physical addresses are JS numbers below 2^53. Addresses at or above 2^53
 * (or any non-integer) decode as unassigned.
 */

/** Bit set, OR'd over the pieces of a split access (QEMU's MEMTX_*). */
export type MemTxResult = number;
export const MEMTX_OK = 0;
export const MEMTX_ERROR = 1 << 0;
export const MEMTX_DECODE_ERROR = 1 << 1;
export const MEMTX_ACCESS_ERROR = 1 << 2;

/** Transaction attributes (QEMU's MemTxAttrs). Treat as immutable; share instances. */
export interface MemTxAttrs {
  /** Requester id: hart index for CPU accesses, PCI BDF for PCI DMA, -1 when unspecified. */
  readonly requesterId: number;
  readonly secure: boolean;
  readonly user: boolean;
  /** Reject anything but RAM/ROM targets with ACCESS_ERROR (QEMU's memory attribute). */
  readonly memoryOnly: boolean;
}

export const MEMTXATTRS_UNSPECIFIED: MemTxAttrs = Object.freeze({
  requesterId: -1,
  secure: false,
  user: false,
  memoryOnly: false,
});

export function memTxAttrs(partial: Partial<MemTxAttrs>): MemTxAttrs {
  return Object.freeze({ ...MEMTXATTRS_UNSPECIFIED, ...partial });
}

export type Endianness = 'little' | 'big';

export interface AccessConstraints {
  /** Smallest access size in bytes (default 1). */
  min?: number;
  /** Largest access size in bytes (default 4, up to 8; impl 8 needs the *WithAttrs callbacks). */
  max?: number;
  /** Whether unaligned accesses are allowed (valid) / handled by the callbacks (impl). Default false. */
  unaligned?: boolean;
}

export interface ValidConstraints extends AccessConstraints {
  /** Extra device-specific check; returning false fails the access with DECODE_ERROR. */
  accepts?(offset: number, size: number, isWrite: boolean, attrs: MemTxAttrs): boolean;
}

/**
 * Callbacks of an I/O region (QEMU's MemoryRegionOps). `offset` is relative to
 * the region start; `size` is 1, 2 or 4 (or 8: impl.max 8, *WithAttrs only);
 * values are unsigned 32-bit numbers in the device's endianness already
 * converted to host order by the core (an 8-byte value as its low and high halves).
 * The *WithAttrs variants, when present, are used instead and may fail.
 */
export interface MemoryRegionOps {
  read?(offset: number, size: number, attrs: MemTxAttrs): number;
  write?(offset: number, value: number, size: number, attrs: MemTxAttrs): void;
  /** Store the value in out[0] (an 8-byte access: its low half, the high half in out[1]); return a MemTxResult. */
  readWithAttrs?(offset: number, size: number, attrs: MemTxAttrs, out: Uint32Array): MemTxResult;
  /** `value`, and for an 8-byte access `hi`, its high half (0 otherwise). */
  writeWithAttrs?(offset: number, value: number, size: number, attrs: MemTxAttrs, hi: number): MemTxResult;
  /** Device endianness (default little). */
  endianness?: Endianness;
  valid?: ValidConstraints;
  impl?: AccessConstraints;
}

/**
 * What a hart (or any fast client) needs from an address space: a way to find
 * RAM it may cache as a direct typed-array view, and a slow path through
 * dispatch. Implemented by AddressSpace.
 */
export interface PhysMemory {
  /**
   * Bumped whenever the address space's flat view changes. Clients that cache
   * direct RAM views (a hart's TLB) drop them when this changes.
   */
  readonly epoch: number;
  /**
   * If [addr, addr + len) lies inside one RAM-backed flat range (RAM; for reads
   * also ROM and ROM devices in romd mode), return its backing bytes and the
   * offset of addr within them; otherwise null. Called on TLB fills, not per access.
   */
  ramPtr(addr: number, len: number, isWrite: boolean): RamPtr | null;
  /**
   * Dispatch a load of `size` (1, 2, 4 or 8) bytes, little-endian. The value is
   * left in valLo (and valHi for 8 bytes) as unsigned 32-bit numbers.
   */
  load(addr: number, size: number, attrs: MemTxAttrs): MemTxResult;
  /** Dispatch a store of `size` bytes; hi is ignored below 8 bytes. */
  store(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult;
  /** Low 32 bits of the last load's value. */
  readonly valLo: number;
  /** High 32 bits of the last 8-byte load's value. */
  readonly valHi: number;
}

export interface RamPtr {
  /** The backing store (a view of the RAM block's SharedArrayBuffer, or ROM's buffer). */
  readonly bytes: Uint8Array;
  /** Offset of the requested address within `bytes`. */
  readonly offset: number;
  /** Guest physical address where `bytes[0]` lives in this view. */
  readonly base: number;
  /** Length in bytes of the contiguous range the caller may cache from `base`. */
  readonly length: number;
}
