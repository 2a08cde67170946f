// npm run bench -- --filter smp
// smp.mixed_io_ops_per_s: one hart in a worker realm (-accel tcg,thread=multi)
//   running a mix of device accesses (bench/guest/io-access.S: UART read and
//   write, PLIC, CLINT, ECAM, virtio-mmio notify, unassigned) on the virt
//   board as `tsvmm run` builds it; baseline: the same guest with the hart on
//   the event loop (-accel tcg,thread=single), in the same run. Wall time (a
//   hart realm's accesses are round trips to the main realm: waiting is the
//   cost), best of three each, alternating.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../src/machine/virt/virt.js';
import { plugDevices } from '../src/machine/virt/devices.js';
import { round, type Report } from './harness.js';

export const group = 'smp';

const root = fileURLToPath(new URL('..', import.meta.url));
// Per phase: loop, UART read, UART write, PLIC, CLINT, ECAM, virtio notify, unassigned.
const COUNTS = [1, 3000, 3000, 2000, 2000, 1000, 1000, 500];
const OPS = COUNTS.slice(1).reduce((a, b) => a + b, 0);

function build(dir: string): string {
  const src = readFileSync(join(root, 'bench/guest/io-access.S'), 'utf8').replace('.dword COUNTS', `.dword ${COUNTS.join(', ')}`);
  const b = join(dir, 'mix');
  writeFileSync(`${b}.S`, src);
  execFileSync('riscv64-unknown-elf-as', ['-march=rv64imac_zicsr', '-o', `${b}.o`, `${b}.S`]);
  execFileSync('riscv64-unknown-elf-ld', ['-Ttext=0x80000000', '-o', `${b}.elf`, `${b}.o`]);
  execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', `${b}.elf`, `${b}.bin`]);
  return `${b}.bin`;
}

/** Device accesses per second of wall time from the guest's first phase mark to its last. */
async function opsPerS(bin: string, threads: 'single' | 'multi'): Promise<number> {
  const marks: number[] = [];
  const serial = { attach: () => {}, write: (b: number) => void (b === 0x50 && marks.push(performance.now())), acceptInput: () => {} };
  const m = new VirtMachine({ ramSize: 128 << 20, smp: 1, threads, serial: serial as never, logger: () => {} });
  plugDevices({ machine: m, drives: new Map() }, [{ driver: 'virtio-rng-device', props: {} }]);
  m.boot({ bios: bin });
  const code = await m.run();
  if (code !== 0 || marks.length !== COUNTS.length) throw new Error(`mixed-io guest (${threads}): exit ${code}, ${marks.length} phases`);
  return OPS / ((marks[marks.length - 1]! - marks[0]!) / 1000);
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-smp-io-'));
  try {
    const bin = build(dir);
    let multi = 0;
    let single = 0;
    for (let i = 0; i < 3; i++) {
      single = Math.max(single, await opsPerS(bin, 'single'));
      multi = Math.max(multi, await opsPerS(bin, 'multi'));
    }
    report({ name: 'smp.mixed_io_ops_per_s', value: Math.round(multi), unit: 'ops/s', baseline: Math.round(single), ratio: round(multi / single, 3) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
