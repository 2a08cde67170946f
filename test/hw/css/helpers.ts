import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { encodeCcw1 } from '../../../src/hw/css/channel-program.js';
import { VfioCcwPassthrough, type VfioCcwPassthroughOptions } from '../../../src/hw/css/vfio-ccw-passthrough.js';
import { SingleIrbParts } from '../../../src/explore/policies/vfio-ccw-single-irb.js';
import { VfioCcwOracle } from '../../../src/explore/scenarios/seed003-subchannel-clear-start.js';

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

/** Build a pass-through stack with seed 003's design ('naive', injected from src/explore) or the shipped one, and its checker. */
export function passthrough(design: 'naive' | 'shipped', opts: Omit<VfioCcwPassthroughOptions, 'parts'>): { pt: VfioCcwPassthrough; oracle: VfioCcwOracle } {
  const pt = new VfioCcwPassthrough({ ...opts, parts: design === 'naive' ? new SingleIrbParts() : undefined });
  return { pt, oracle: new VfioCcwOracle(pt) };
}
