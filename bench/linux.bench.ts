/**
 * linux.boot_to_shell_s (and _smp2_s): wall time from process start to the
 * guest's ready line (`tsvmm-guest-ready:`, printed by the init just before
 * the shell starts) for the guest `npm run guest:linux` builds, on `virt -m
 * 512M -smp 1` (and `-smp 2`: harts in worker threads), console through
 * pipes; the guest is then powered off. QEMU
 * (qemu-system-riscv64) boots the same kernel and initramfs in the same run
 * as the baseline when installed. RUNS boots each, tsvmm and QEMU alternated
 * (one boot swung by ~5 % on the development machine): value and baseline
 * are the medians, `runs` the single boots.
 */
import { existsSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Report } from './harness.js';
import { median, round, TSVMM_NODE_ARGS } from './harness.js';

export const group = 'linux';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VMLINUX = `${ROOT}guests/linux/vmlinux`;
const INITRD = `${ROOT}guests/linux/initrd.gz`;
const QEMU = '/usr/bin/qemu-system-riscv64';
const LIMIT_S = 1200;
const RUNS = 3;

function timeToReady(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    let result = -1;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd}: no ready line within ${LIMIT_S} s; output tail:\n${out.slice(-600)}`));
    }, LIMIT_S * 1000);
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (result < 0 && out.includes('tsvmm-guest-ready:')) {
        result = Number(process.hrtime.bigint() - t0) / 1e9;
        child.stdin.write('\npoweroff -f\n');
        // QEMU's poweroff goes through the same syscon; kill if it lingers.
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (result < 0) reject(new Error(`${cmd} exited before the ready line:\n${out.slice(-600)}`));
      else resolve(result);
    });
  });
}

export async function run(report: Report): Promise<void> {
  execFileSync(process.execPath, [`${ROOT}scripts/guest-linux.mjs`], { stdio: ['ignore', 'ignore', 'inherit'] });
  // -smp 1, then -smp 2 (tsvmm's harts in worker threads, QEMU's MTTCG), each against QEMU in the same run.
  for (const smp of [1, 2]) {
    const common = ['-machine', 'virt', '-m', '512M', '-smp', String(smp), '-kernel', VMLINUX, '-initrd', INITRD, '-append', 'console=ttyS0', '-nographic'];
    const name = smp === 1 ? 'linux.boot_to_shell_s' : 'linux.boot_to_shell_smp2_s';
    const hasQemu = existsSync(QEMU);
    const ours: number[] = [];
    const qemu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await timeToReady(process.execPath, [...TSVMM_NODE_ARGS, 'run', ...common]));
      if (hasQemu) qemu.push(await timeToReady(QEMU, common));
    }
    const runs = ours.map((x) => round(x, 2));
    if (hasQemu) {
      const o = median(ours);
      const q = median(qemu);
      report({ name, value: round(o, 2), unit: 's', baseline: round(q, 2), ratio: round(o / q, 2), runs, baselineRuns: qemu.map((x) => round(x, 2)) });
    } else {
      report({ name, value: round(median(ours), 2), unit: 's', runs });
    }
  }
}
