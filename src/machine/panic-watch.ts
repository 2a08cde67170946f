/**
 * Guest panic detection on the console. QEMU learns of a guest panic from a
 * pvpanic device; Debian's riscv64 kernel is built without pvpanic
 * (CONFIG_PVPANIC is not set), so tsvmm recognises Linux's panic banner,
 * "Kernel panic - not syncing", in the bytes the guest writes to its console
 * and applies the panic action (QEMU's `-action panic=...`) after a delay that
 * lets the rest of the panic report reach the console.
 *
 * The watch is a CharBackend that forwards everything to the real backend
 * unchanged, so it costs one comparison per output byte.
 */
import type { CharBackend, CharFrontend } from '../hw/char/chardev.js';

export const PANIC_BANNER = 'Kernel panic - not syncing';

export class PanicWatch implements CharBackend {
  private readonly pattern: Uint8Array;
  private matched = 0;
  private fired = false;

  constructor(
    private readonly inner: CharBackend,
    private readonly onPanic: () => void,
  ) {
    this.pattern = new TextEncoder().encode(PANIC_BANNER);
  }

  /** Whether the banner has been seen. */
  get panicked(): boolean {
    return this.fired;
  }

  attach(frontend: CharFrontend | null): void {
    this.inner.attach(frontend);
  }

  write(byte: number): void {
    this.inner.write(byte);
    if (this.fired) return;
    const p = this.pattern;
    // The banner's first letter does not recur in it, so after a mismatch the
    // only possible restart is at 0, or 1 when the byte is that letter.
    if (byte === p[this.matched]) {
      this.matched++;
      if (this.matched === p.length) {
        this.fired = true;
        this.onPanic();
      }
    } else this.matched = byte === p[0] ? 1 : 0;
  }

  acceptInput(): void {
    this.inner.acceptInput();
  }

  flush(): void {
    this.inner.flush();
  }

  close(): void {
    this.inner.close();
  }
}
