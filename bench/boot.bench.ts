/**
 * boot.uboot_prompt_s: wall time from process start to the first U-Boot
 * prompt, Debian's M-mode U-Boot on `virt -m 256M`, console through pipes; a
 * key is sent when "Hit any key" appears (as the reference recording did).
 * QEMU (qemu-system-riscv64) is measured the same way in the same run as the
 * baseline when installed. Median of 3 runs each.
 *
 * boot.uboot_prompt_cpu_s: the same boot in CPU seconds of the emulator
 * process (its threads' schedstat run times when the prompt appears), the
 * figure that means something on a shared machine; also with `-accel
 * tcg,jit=off` (boot.uboot_prompt_cpu_s_interp) to show what translation buys.
 * Medians of 5 rounds, each running the three alternated. Not pinned to
 * one CPU (harness.ts: pinned), as the cpu figures are: QEMU runs its vCPU
 * and main-loop threads on two cores as a user runs it, and pinned it took
 * 10-15 % less CPU to the prompt (112.7 against 133.0 ms, medians of 10
 * alternated runs; ours 252.9 against 254.6).
 *
 * boot.start_poweroff_cpu_s: CPU seconds of a whole process whose firmware
 * powers the machine off at its first instructions (what every start costs
 * before the guest does anything; a third of U-Boot's figure was this), QEMU
 * the same way; medians of 10 alternated runs. Measured by bash's `time`:
 * the process is gone before /proc could be read.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from './harness.js';
import { median, round, TSVMM_NODE_ARGS } from './harness.js';

export const group = 'boot';

const UBOOT = '/usr/lib/u-boot/qemu-riscv64/u-boot.bin';
const QEMU = '/usr/bin/qemu-system-riscv64';

/**
 * CPU seconds a running process has used so far: its threads' run times from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds), else user + system from /proc/<pid>/stat (10 ms
 * ticks, truncated per thread: 5-20 ms short of schedstat on QEMU's ~0.12 s, more than on
 * ours, so the ratio came out low); NaN where /proc is missing.
 */
function cpuSecondsOf(pid: number | undefined): number {
  let ticks = NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return NaN;
  }
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    // A thread that exited is in the ticks only.
    return Math.max(ns / 1e9, ticks);
  } catch {
    // No schedstat (a kernel without CONFIG_SCHED_INFO).
    return ticks;
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

/** CPU seconds (user + system) of a whole run of `cmd args`, its output discarded. */
function cpuSecondsOfRun(cmd: string, args: string[]): number {
  const r = spawnSync('bash', ['-c', 'TIMEFORMAT="%3U %3S"; { time "$@" >/dev/null 2>&1 </dev/null; } 2>&1', 'bash', cmd, ...args], { encoding: 'utf8' });
  const [user, sys] = r.stdout.trim().split(/\s+/).slice(-2).map(Number);
  if (r.status !== 0 || !(user! >= 0) || !(sys! >= 0)) throw new Error(`${cmd}: could not time a run (${r.stdout.slice(-200)})`);
  return user! + sys!;
}

/** lui t0,0x100; lui t1,5; addi t1,t1,0x555; sw t1,0(t0); j . — the test device's power-off. */
const POWEROFF_WORDS = [0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f];

async function medianOf(n: number, f: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  return median(xs);
}

export async function run(report: Report): Promise<void> {
  if (!existsSync(UBOOT)) throw new Error(`${UBOOT} is missing; install it with: apt-get install u-boot-qemu`);
  const ours = await medianOf(3, () => timeToPrompt(process.execPath, [...TSVMM_NODE_ARGS, 'run', '-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT]));
  if (existsSync(QEMU)) {
    const qemu = await medianOf(3, () => timeToPrompt(QEMU, ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT]));
    report({ name: 'boot.uboot_prompt_s', value: round(ours), unit: 's', baseline: round(qemu), ratio: round(ours / qemu, 2) });
  } else {
    report({ name: 'boot.uboot_prompt_s', value: round(ours), unit: 's' });
  }
  const args = ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', UBOOT];
  // CPU: the three alternated, 5 rounds (the host's speed drifts over a run).
  const jits: number[] = [];
  const interps: number[] = [];
  const qemus: number[] = [];
  for (let i = 0; i < 5; i++) {
    jits.push(await timeToPrompt(process.execPath, [...TSVMM_NODE_ARGS, 'run', ...args], true));
    interps.push(await timeToPrompt(process.execPath, [...TSVMM_NODE_ARGS, 'run', '-accel', 'tcg,jit=off', ...args], true));
    if (existsSync(QEMU)) qemus.push(await timeToPrompt(QEMU, args, true));
  }
  const cpuJit = median(jits);
  const cpuInterp = median(interps);
  if (qemus.length > 0) {
    const qemu = median(qemus);
    report({ name: 'boot.uboot_prompt_cpu_s', value: round(cpuJit), unit: 's', baseline: round(qemu), ratio: round(cpuJit / qemu, 2), runs: jits.map((x) => round(x)), baselineRuns: qemus.map((x) => round(x)) });
    report({ name: 'boot.uboot_prompt_cpu_s_interp', value: round(cpuInterp), unit: 's', baseline: round(qemu), ratio: round(cpuInterp / qemu, 2) });
  } else {
    report({ name: 'boot.uboot_prompt_cpu_s', value: round(cpuJit), unit: 's' });
    report({ name: 'boot.uboot_prompt_cpu_s_interp', value: round(cpuInterp), unit: 's' });
  }

  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-'));
  try {
    const fw = join(dir, 'poweroff.bin');
    const image = Buffer.alloc(4 * POWEROFF_WORDS.length);
    POWEROFF_WORDS.forEach((w, i) => image.writeUInt32LE(w, 4 * i));
    writeFileSync(fw, image);
    const offArgs = ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', fw];
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < 10; i++) {
      ours.push(cpuSecondsOfRun(process.execPath, [...TSVMM_NODE_ARGS, 'run', ...offArgs]));
      if (existsSync(QEMU)) theirs.push(cpuSecondsOfRun(QEMU, offArgs));
    }
    const v = median(ours);
    if (theirs.length > 0) {
      const q = median(theirs);
      report({ name: 'boot.start_poweroff_cpu_s', value: round(v, 3), unit: 's', baseline: round(q, 3), ratio: round(v / q, 2) });
    } else {
      report({ name: 'boot.start_poweroff_cpu_s', value: round(v, 3), unit: 's' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
