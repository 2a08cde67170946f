/**
 * The test machine of the CPU tests and benchmarks without host tools (no
 * node: imports), so the same machine also runs in a browser (bench/web).
 */
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { allocateGuestRam } from '../../src/memory/guest-ram.js';
import { HART_STATE_BYTES } from '../../src/cpu/riscv/state-area.js';

export const RAM_BASE = 0x80000000;
export const FINISHER = 0x100000;
/** Test device: write (bit << 1 | level) to raise/lower a mip line; read +8 = mtime low word. */
export const IRQCTL = 0x2000000;

export interface GuestMachine {
  hart: Hart;
  as: AddressSpace;
  ram: MemoryRegion;
  /** 0 while running; 0x5555 or the fail word once written. */
  result(): number;
  mtime: { value: number };
}

export function makeMachine(image: Uint8Array, ramSize = 8 << 20, hartOptions: { translate?: boolean; translateThreshold?: number; regionThreshold?: number; threadThreshold?: number } = {}): GuestMachine {
  const root = MemoryRegion.container('system', 2 ** 40);
  // As the virt machine does: RAM and the hart's state area in one wasm memory (translated code accesses RAM directly).
  const backing = allocateGuestRam(ramSize, HART_STATE_BYTES);
  const ram = MemoryRegion.ram('ram', ramSize, { buffer: backing.buffer });
  root.addSubregion(RAM_BASE, ram);
  let finished = 0;
  let hartRef: Hart | null = null;
  const mtime = { value: 0 };
  root.addSubregion(
    FINISHER,
    MemoryRegion.io('finisher', 0x1000, {
      read: () => 0,
      write: (_o, v) => {
        finished = v;
        hartRef?.requestStop();
      },
    }),
  );
  root.addSubregion(
    IRQCTL,
    MemoryRegion.io('irqctl', 0x10, {
      read: (o) => (o === 8 ? mtime.value >>> 0 : 0),
      write: (o, v) => {
        if (o === 0) hartRef?.setInterruptLevel(v >>> 1, (v & 1) !== 0);
        if (o === 8) mtime.value = v;
      },
    }),
  );
  const as = new AddressSpace(root, 'memory');
  ram.ramBytes().set(image);
  const state = backing.memory ? { memory: backing.memory, offset: backing.tailOffset } : undefined;
  const hart = new Hart({ hartId: 0, mem: as, timeSource: () => mtime.value, state, ...hartOptions });
  hartRef = hart;
  hart.reset(RAM_BASE);
  return { hart, as, ram, result: () => finished, mtime };
}

