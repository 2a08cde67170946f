/**
 * The same gdb-multiarch session against QEMU 7.2 and tsvmm, both running
 * Debian's M-mode U-Boot from a paused start: the breakpoint, the hardware
 * watchpoint report and 300 single-steps (pc, a0, sp after each) must read
 * the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSVMM } from '../helpers/console.js';

const UBOOT = '/usr/lib/u-boot/qemu-riscv64/u-boot.bin';
const STEPS = 300;

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function session(sock: string): string[] {
  return [
    'set pagination off',
    'set confirm off',
    `target remote ${sock}`,
    'break *0x80000000',
    'continue',
    'x/3i $pc',
    'set $lot = *(long *)0x80084c98',
    'watch *(int *)$lot',
    'continue',
    'delete',
    'set $i = 0',
    `while $i < ${STEPS}`,
    '  stepi',
    '  printf "STEP pc=%lx a0=%lx sp=%lx\\n", $pc, $a0, $sp',
    '  set $i = $i + 1',
    'end',
    'kill',
    '',
  ];
}

/** Run the session against an emulator listening on `sock`; returns gdb's output lines that must agree. */
async function runSession(dir: string, name: string, emulator: ChildProcess, sock: string): Promise<string[]> {
  try {
    await waitFor(() => existsSync(sock), `${name}'s gdb socket`);
    const script = join(dir, `${name}.gdb`);
    writeFileSync(script, session(sock).join('\n'));
    const g = spawnSync('gdb-multiarch', ['-nx', '-batch', '-x', script], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(g.status, 0, g.stderr);
    return g.stdout
      .split('\n')
      .filter((l) => /^(STEP|Breakpoint 1,|Old value|New value|0x[0-9a-f]+ in|=> |   0x)/.test(l))
      .map((l) => l.trimEnd());
  } finally {
    emulator.kill('SIGKILL');
  }
}

test('gdb sees the same breakpoint, watchpoint and 300 single-steps under tsvmm as under QEMU 7.2', { timeout: 360_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdbq-'));
  try {
    const qsock = join(dir, 'qemu.sock');
    const tsock = join(dir, 'tsvmm.sock');
    const qemu = spawn('qemu-system-riscv64', ['-M', 'virt', '-m', '256M', '-display', 'none', '-monitor', 'none', '-serial', 'null', '-bios', UBOOT, '-S', '-gdb', `unix:${qsock},server,nowait`], { stdio: 'ignore' });
    const q = await runSession(dir, 'qemu', qemu, qsock);
    const tsvmm = spawn(process.execPath, [TSVMM, 'run', '-M', 'virt', '-m', '256M', '-serial', 'none', '-bios', UBOOT, '-S', '-gdb', `unix:${tsock}`], { stdio: 'ignore' });
    const t = await runSession(dir, 'tsvmm', tsvmm, tsock);
    assert.equal(q.filter((l) => l.startsWith('STEP')).length, STEPS, q.join('\n'));
    assert.ok(q.some((l) => /New value = 1/.test(l)), q.join('\n'));
    assert.deepEqual(t, q);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
