/**
 * SiFive test finisher ("riscv.sifive.test", 0x1000 bytes; compatible
 * sifive,test1 / syscon): a 32-bit write at offset 0 ends the run.
 *   0x5555               poweroff, exit code 0
 *   0x7777               reset
 *   (code << 16) | 0x3333 fail with exit code `code`
 * Anything else (other values, other offsets) is ignored; reads return 0.
 * The device only reports; the machine decides what shutting down means.
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';

export const SIFIVE_TEST_SIZE = 0x1000;
const FINISHER_FAIL = 0x3333;
const FINISHER_PASS = 0x5555;
const FINISHER_RESET = 0x7777;

export type ShutdownKind = 'poweroff' | 'reset' | 'fail';
export type ShutdownHandler = (kind: ShutdownKind, code: number) => void;

export class SifiveTest implements DeviceOwner {
  readonly name = 'sifive_test';
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly mr: MemoryRegion;

  constructor(private readonly onShutdown: ShutdownHandler) {
    const ops: MemoryRegionOps = {
      read: () => 0,
      write: (off, v) => this.write(off, v),
      valid: { min: 2, max: 4 },
      impl: { min: 2, max: 4 },
    };
    this.mr = MemoryRegion.io('riscv.sifive.test', SIFIVE_TEST_SIZE, ops, { owner: this });
  }

  reset(): void {}

  private write(off: number, v: number): void {
    if (off !== 0) return;
    const status = v & 0xffff;
    const code = (v >>> 16) & 0xffff;
    if (status === FINISHER_PASS) this.onShutdown('poweroff', 0);
    else if (status === FINISHER_RESET) this.onShutdown('reset', 0);
    else if (status === FINISHER_FAIL) this.onShutdown('fail', code);
  }
}
