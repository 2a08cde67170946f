// npm run bench -- --filter io
// io.access_us.<device>: CPU time of one guest access to a device register,
//   by the same bare-metal guest (bench/guest/io-access.S) on tsvmm's virt
//   board and on qemu-system-riscv64 -machine virt (QEMU 7.2, baseline) in
//   the same run. CPU time, not wall time: on a loaded host wall time mostly
//   measures waiting for a core.
//   - tsvmm: the board built as `tsvmm run` builds it (VirtMachine + the
//     -device table), in this process; per-phase CPU from process.cpuUsage at
//     the guest's phase marks, the empty loop subtracted; best of three boards
//     (the first pays for V8 compiling the hot paths).
//   - QEMU: one run per device with that phase's count and the others at 1,
//     minus a run with all at 1; CPU time of the child from bash's `times`.
//   Devices: UART read (LSR) and write (SCR), PLIC read (priority 1), CLINT
//   read (mtime), ECAM read, virtio-mmio notify, unassigned read (with its
//   access-fault trap and mret). Goal: ratio <= 3 for each.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../src/machine/virt/virt.js';
import { plugDevices } from '../src/machine/virt/devices.js';
import type { CharBackend } from '../src/hw/char/chardev.js';
import { round, type Report } from './harness.js';

export const group = 'io';

const QEMU = '/usr/bin/qemu-system-riscv64';
const PHASES = ['loop', 'uart_read', 'uart_write', 'plic_read', 'clint_read', 'ecam_read', 'virtio_notify', 'unassigned_read'] as const;
const root = fileURLToPath(new URL('..', import.meta.url));

function build(dir: string, name: string, counts: readonly number[]): string {
  const src = readFileSync(join(root, 'bench/guest/io-access.S'), 'utf8').replace('.dword COUNTS', `.dword ${counts.join(', ')}`);
  const b = join(dir, name);
  writeFileSync(`${b}.S`, src);
  execFileSync('riscv64-unknown-elf-as', ['-march=rv64imac_zicsr', '-o', `${b}.o`, `${b}.S`]);
  execFileSync('riscv64-unknown-elf-ld', ['-Ttext=0x80000000', '-o', `${b}.elf`, `${b}.o`]);
  execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', `${b}.elf`, `${b}.bin`]);
  return `${b}.bin`;
}

const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/** tsvmm: microseconds of CPU per access, per phase. */
async function ours(bin: string, n: number): Promise<Map<string, number>> {
  const marks: number[] = [];
  const serial: CharBackend = {
    attach: () => {},
    write: (b: number) => {
      if (b === 0x50) marks.push(cpuMs()); // 'P': a phase ended
    },
    acceptInput: () => {},
  } as unknown as CharBackend;
  const m = new VirtMachine({ ramSize: 128 << 20, smp: 1, serial, logger: () => {} });
  plugDevices({ machine: m, drives: new Map() }, [{ driver: 'virtio-rng-device', props: {} }]);
  m.boot({ bios: bin });
  const start = cpuMs();
  const code = await m.run();
  if (code !== 0 || marks.length !== PHASES.length) throw new Error(`io guest on tsvmm: exit ${code}, ${marks.length} phases`);
  const per = marks.map((t, i) => ((t - (i ? marks[i - 1]! : start)) * 1000) / n);
  return new Map(PHASES.slice(1).map((p, i) => [p, Math.max(0, per[i + 1]! - per[0]!)]));
}

/** CPU seconds (user + sys) of one QEMU run of `bin`. */
function qemuCpu(bin: string): number {
  const args = ['-machine', 'virt', '-m', '128M', '-nographic', '-display', 'none', '-monitor', 'none', '-bios', bin, '-device', 'virtio-rng-device'];
  const cmd = `${QEMU} ${args.map((a) => `'${a}'`).join(' ')} >/dev/null 2>&1; times`;
  const out = execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
  const t = [...out.split('\n')[1]!.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return t[0]! + t[1]!;
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-io-bench-'));
  try {
    const N = 20_000;
    const bin = build(dir, 'ours', PHASES.map(() => N));
    // Three boards in turn, keeping each phase's best: the first runs also pay for compiling the hot paths.
    const mine = await ours(bin, N);
    for (let r = 0; r < 2; r++) for (const [k, v] of await ours(bin, N)) mine.set(k, Math.min(v, mine.get(k)!));
    let qemu: Map<string, number> | null = null;
    if (existsSync(QEMU)) {
      qemu = new Map();
      const ones = PHASES.map(() => 1);
      const base = Math.min(qemuCpu(build(dir, 'q0', ones)), qemuCpu(build(dir, 'q0', ones)));
      for (let i = 1; i < PHASES.length; i++) {
        // Enough accesses to stand well above QEMU's start-up noise.
        const n = PHASES[i] === 'unassigned_read' ? 200_000 : 2_000_000;
        const counts = ones.map((c, j) => (j === i ? n : c));
        const bin = build(dir, `q${i}`, counts);
        const t = Math.min(qemuCpu(bin), qemuCpu(bin));
        qemu.set(PHASES[i]!, (Math.max(0, t - base) * 1e6) / n);
      }
    }
    for (const name of PHASES.slice(1)) {
      const v = mine.get(name)!;
      const q = qemu?.get(name);
      report({ name: `io.access_us.${name}`, value: round(v, 3), unit: 'us', ...(q !== undefined ? { baseline: round(q, 3), ratio: round(v / Math.max(q, 0.001), 1) } : {}) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
