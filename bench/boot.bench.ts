/**
 * boot.uboot_prompt_s: wall time from process start to the first U-Boot
 * prompt, Debian's M-mode U-Boot on `virt -m 256M`, console through pipes; a
 * key is sent when "Hit any key" appears (as the reference recording did).
 * QEMU (qemu-system-riscv64) is measured the same way in the same run as the
 * baseline when installed. Median of 3 runs each.
 *
 * boot.uboot_prompt_cpu_s: the same boot in CPU seconds of the emulator
 * process (user + system from /proc/<pid>/stat when the prompt appears), the
 * figure that means something on a shared machine; also with `-accel
 * tcg,jit=off` (boot.uboot_prompt_cpu_s_interp) to show what translation buys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Report } from './harness.js';
import { median, round } from './harness.js';

export const group = 'boot';

const TSVMM = fileURLToPath(new URL('../bin/tsvmm', import.meta.url));
const UBOOT = '/usr/lib/u-boot/qemu-riscv64/u-boot.bin';
const QEMU = '/usr/bin/qemu-system-riscv64';

/** CPU seconds (user + system) a running process has used so far; NaN where /proc is missing. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return NaN;
  }
}

/** Seconds from spawn to the first "=> " after interrupting autoboot; then powers off. */
function timeToPrompt(cmd: string, args: string[], cpu = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    let keySent = false;
    let result = -1;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd}: no U-Boot prompt within 120 s`));
    }, 120_000);
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (!keySent && out.includes('Hit any key')) {
        keySent = true;
        child.stdin.write(' ');
      }
      if (keySent && result < 0 && out.includes('=> ')) {
        result = cpu ? cpuSecondsOf(child.pid) : Number(process.hrtime.bigint() - t0) / 1e9;
        child.stdin.write('poweroff\r');
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (result < 0) reject(new Error(`${cmd} exited before the prompt:\n${out.slice(-400)}`));
      else resolve(result);
    });
  });
}

async function medianOf(n: number, f: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  return median(xs);
}

export async function run(report: Report): Promise<void> {
  if (!existsSync(UBOOT)) throw new Error(`${UBOOT} is missing; install it with: apt-get install u-boot-qemu`);
  const ours = await medianOf(3, () => timeToPrompt(process.execPath, [TSVMM, 'run', '-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT]));
  if (existsSync(QEMU)) {
    const qemu = await medianOf(3, () => timeToPrompt(QEMU, ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT]));
    report({ name: 'boot.uboot_prompt_s', value: round(ours), unit: 's', baseline: round(qemu), ratio: round(ours / qemu, 2) });
  } else {
    report({ name: 'boot.uboot_prompt_s', value: round(ours), unit: 's' });
  }
  const args = ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT];
  const cpuJit = await medianOf(3, () => timeToPrompt(process.execPath, [TSVMM, 'run', ...args], true));
  const cpuInterp = await medianOf(3, () => timeToPrompt(process.execPath, [TSVMM, 'run', '-accel', 'tcg,jit=off', ...args], true));
  if (existsSync(QEMU)) {
    const qemu = await medianOf(3, () => timeToPrompt(QEMU, args, true));
    report({ name: 'boot.uboot_prompt_cpu_s', value: round(cpuJit), unit: 's', baseline: round(qemu), ratio: round(cpuJit / qemu, 2) });
    report({ name: 'boot.uboot_prompt_cpu_s_interp', value: round(cpuInterp), unit: 's', baseline: round(qemu), ratio: round(cpuInterp / qemu, 2) });
  } else {
    report({ name: 'boot.uboot_prompt_cpu_s', value: round(cpuJit), unit: 's' });
    report({ name: 'boot.uboot_prompt_cpu_s_interp', value: round(cpuInterp), unit: 's' });
  }
}
