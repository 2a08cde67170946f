import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { encodeCcw1 } from '../../../src/hw/css/channel-program.js';

/** Store a format-1 CCW. */
export function ccw1(mem: ArrayGuestMemory, addr: number, cmd: number, flags: number, count: number, cda: number): void {
  mem.write(addr, encodeCcw1({ cmd, flags, count, cda }));
}

/** Store a format-0 CCW. */
export function ccw0(mem: ArrayGuestMemory, addr: number, cmd: number, flags: number, count: number, cda: number): void {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, cda & 0xffffff, false);
  b[0] = cmd;
  b[4] = flags;
  v.setUint16(6, count, false);
  mem.write(addr, b);
}

export function bytes(...xs: number[]): Uint8Array {
  return new Uint8Array(xs);
}
