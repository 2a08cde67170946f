/**
 * Guest RAM backing: one shared WebAssembly.Memory when it fits, so that
 * code the harts translate into WebAssembly (src/cpu/riscv/jit) loads and
 * stores guest RAM directly. Its buffer is an ordinary SharedArrayBuffer to
 * everything else (regions, DMA, workers). `tail` bytes after the RAM hold
 * per-hart state (the caller decides the layout); they are never part of a
 * region, so the guest cannot reach them.
 */
export interface GuestRamBacking {
  /** Buffer of at least `size + tail` bytes; RAM is bytes [0, size). */
  readonly buffer: SharedArrayBuffer;
  /** The memory the buffer belongs to, or null when RAM + tail exceed what one memory can hold. */
  readonly memory: WebAssembly.Memory | null;
  /** Byte offset of the tail. */
  readonly tailOffset: number;
}

const WASM_PAGE = 65536;
/** Pages of the largest memory a wasm32 module can address (4 GiB less one page, which V8 accepts everywhere). */
const MAX_PAGES = 65535;

export function allocateGuestRam(size: number, tail: number): GuestRamBacking {
  const tailOffset = Math.ceil(size / 8) * 8;
  const pages = Math.ceil((tailOffset + tail) / WASM_PAGE);
  if (pages <= MAX_PAGES && typeof WebAssembly === 'object') {
    try {
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      return { buffer: memory.buffer as unknown as SharedArrayBuffer, memory, tailOffset };
    } catch {
      // Fall through: a plain buffer (translated code then takes its slow path for RAM).
    }
  }
  return { buffer: new SharedArrayBuffer(tailOffset + tail), memory: null, tailOffset };
}
