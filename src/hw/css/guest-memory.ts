/**
 * How the channel subsystem reaches storage: absolute addresses, big-endian
 * control blocks, and a failure result instead of an exception when the guest
 * names storage that does not exist (the caller turns it into an addressing
 * exception or a program check, as the architecture says).
 */
export interface CssMemory {
  /** Fill `into` from [addr, addr + into.length); false when any byte is unavailable. */
  read(addr: number, into: Uint8Array): boolean;
  /** Store `data` at addr; false (and nothing stored) when any byte is unavailable. */
  write(addr: number, data: Uint8Array): boolean;
}

/** Guest storage backed by one Uint8Array starting at absolute address 0 (tests, small machines). */
export class ArrayGuestMemory implements CssMemory {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  private inRange(addr: number, len: number): boolean {
    return Number.isSafeInteger(addr) && addr >= 0 && len >= 0 && addr + len <= this.bytes.length;
  }

  read(addr: number, into: Uint8Array): boolean {
    if (!this.inRange(addr, into.length)) return false;
    into.set(this.bytes.subarray(addr, addr + into.length));
    return true;
  }

  write(addr: number, data: Uint8Array): boolean {
    if (!this.inRange(addr, data.length)) return false;
    this.bytes.set(data, addr);
    return true;
  }

  /** Test helpers: big-endian stores and loads (throw on a bad address: test code, not guest code). */
  setU32(addr: number, v: number): void {
    this.view.setUint32(addr, v >>> 0, false);
  }

  getU32(addr: number): number {
    return this.view.getUint32(addr, false);
  }

  setU16(addr: number, v: number): void {
    this.view.setUint16(addr, v & 0xffff, false);
  }
}
