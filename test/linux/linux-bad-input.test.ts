// Bad -kernel/-initrd files are one clear error line and exit code 1 before the
// guest starts; a guest kernel panic ends the run with exit code 1 (after
// -panic-delay), the panic visible on the console.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole, TSVMM } from '../helpers/console.js';
import { ensureGuest, INITRD, VMLINUX } from './guest.js';

function run(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [TSVMM, 'run', '-machine', 'virt', '-m', '256M', '-nographic', ...args], { encoding: 'utf8', timeout: 60_000, input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function oneLine(r: { status: number | null; stderr: string; stdout: string }, re: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '', 'nothing from the guest');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
}

test('missing, truncated and foreign kernels and initramfs images fail before the guest starts', { timeout: 300_000 }, () => {
  ensureGuest();
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-linux-bad-'));
  const kernel = readFileSync(VMLINUX);
  const initrd = readFileSync(INITRD);
  writeFileSync(join(dir, 'short-vmlinux'), kernel.subarray(0, kernel.length >> 1));
  writeFileSync(join(dir, 'short-initrd.gz'), initrd.subarray(0, initrd.length - 1000));
  const arm = Buffer.from(kernel.subarray(0, 4096));
  arm.write('ARM\x64', 0x38, 'latin1');
  writeFileSync(join(dir, 'arm64-Image'), arm);
  oneLine(run(['-kernel', join(dir, 'missing')]), /kernel .*missing/);
  oneLine(run(['-kernel', join(dir, 'short-vmlinux')]), /short-vmlinux.*truncated/);
  oneLine(run(['-kernel', join(dir, 'arm64-Image')]), /arm64/);
  oneLine(run(['-kernel', '/bin/true']), /not RISC-V/);
  oneLine(run(['-kernel', VMLINUX, '-initrd', join(dir, 'short-initrd.gz')]), /short-initrd\.gz.*(truncated|corrupt)/);
  oneLine(run(['-kernel', VMLINUX, '-initrd', join(dir, 'missing.gz')]), /initrd .*missing/);
});

test('a kernel panic ends the run with exit code 1 after the panic delay, the panic on the console', { timeout: 1_500_000 }, async () => {
  ensureGuest();
  // The initramfs's init is not used and the requested one does not exist: the kernel panics.
  const g = GuestConsole.run([
    '-machine', 'virt', '-m', '512M', '-kernel', VMLINUX, '-initrd', INITRD, '-append', 'console=ttyS0 rdinit=/nonexistent init=/nonexistent', '-nographic', '-panic-delay', '1',
  ]);
  try {
    await g.expect('Kernel panic - not syncing', 1_200_000);
    assert.equal(await g.exitCode(60_000), 1);
    assert.match(g.stderr, /guest kernel panic/);
    assert.match(g.output, /Kernel panic - not syncing: \S/);
  } finally {
    g.kill();
  }
});
