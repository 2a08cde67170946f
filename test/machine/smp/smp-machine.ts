/**
 * Test support: a small SMP board for guest programs run in hart workers —
 * RAM at 0x80000000 (shared), a finisher at 0x100000 (0x5555 = pass,
 * (code << 16) | 0x3333 = fail) and a CLINT at 0x2000000, harts in worker
 * realms driven by an SmpCoordinator.
 */
import { CodeShare } from '../../../src/cpu/riscv/jit/code-share.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { memoryTransaction } from '../../../src/memory/transaction.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { Clint } from '../../../src/hw/intc/clint.js';
import { SmpCoordinator } from '../../../src/machine/smp/coordinator.js';
import { PORTABLE_ACLINT_SWI } from '../../../src/machine/smp/shared-lines.js';
import { assemble, FINISHER, RAM_BASE } from '../../cpu/guest.js';
import { readFileSync } from 'node:fs';

export const CLINT_BASE = 0x2000000;

export interface SmpBoard {
  system: MemoryRegion;
  as: AddressSpace;
  ram: MemoryRegion;
  loop: EventLoop;
  clint: Clint;
  smp: SmpCoordinator;
  /** 0 until the finisher is written. */
  result(): number;
  logs: string[];
}

export function smpProgram(file: string, defs: Record<string, number>): Uint8Array {
  const src = readFileSync(new URL(`../../cpu/asm/${file}`, import.meta.url), 'utf8');
  const equ = Object.entries(defs).map(([k, v]) => `.equ ${k}, ${v}\n`).join('');
  return assemble(equ + src);
}

export function makeSmpBoard(
  harts: number,
  image: Uint8Array,
  ramSize = 8 << 20,
  faultInjection?: { hart: number; afterSteps: number },
  ioThreads = 0,
): SmpBoard {
  const system = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', ramSize, { buffer: new SharedArrayBuffer(ramSize) });
  const loop = new EventLoop({ clock: { kind: 'realtime' } });
  let finished = 0;
  const logs: string[] = [];
  const as = new AddressSpace(system, 'memory', { log: (m) => logs.push(m) });
  // As the virt machine: harts share translated modules.
  const smp = new SmpCoordinator({ as, harts, log: (l) => logs.push(l), faultInjection, ioThreads, codeShare: CodeShare.allocate() });
  const clint = new Clint(smp.lines, loop, { msip: smp.msip });
  smp.setPortable(clint.swi, PORTABLE_ACLINT_SWI);
  memoryTransaction(() => {
    system.addSubregion(RAM_BASE, ram);
    system.addSubregion(
      FINISHER,
      MemoryRegion.io('finisher', 0x1000, {
        read: () => 0,
        write: (_o, v) => {
          finished = v;
          loop.requestExit(v === 0x5555 ? 0 : 1);
        },
      }),
    );
    clint.mapInto(system, CLINT_BASE);
  });
  ram.ramBytes().set(image);
  smp.attachClock(() => loop.clock.now(), (ns) => clint.mtimeAt(ns));
  smp.onFatal = (m) => {
    logs.push(m);
    loop.requestExit(1);
  };
  return { system, as, ram, loop, clint, smp, result: () => finished, logs };
}

/** Start the harts at RAM_BASE, drive until the finisher is written (or timeout), stop. */
export async function runSmp(b: SmpBoard, timeoutMs = 60_000): Promise<number> {
  const t = setTimeout(() => b.loop.requestExit(2), timeoutMs);
  try {
    await b.smp.start(RAM_BASE);
    await b.smp.drive(b.loop);
  } finally {
    clearTimeout(t);
    await b.smp.stop();
    b.as.destroy();
  }
  return b.result();
}
