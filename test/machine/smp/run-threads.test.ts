// `tsvmm run -smp 2 -accel tcg,thread=multi` end to end with small firmware:
// exit codes, a guest reset (harts paused, devices reset, harts restarted),
// serial output from both hart realms, and the bad-input rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firmware } from '../../helpers/firmware.js';

const bin = fileURLToPath(new URL('../../../bin/tsvmm', import.meta.url));
const MULTI = ['-smp', '2', '-accel', 'tcg,thread=multi', '-serial', 'none'];

function run(args: string[], timeout = 60_000) {
  return spawnSync(process.execPath, [bin, 'run', ...args], { encoding: 'utf8', timeout, input: '' });
}


test('thread=multi: a guest reset pauses both hart realms, resets, and restarts them at the reset vector', { timeout: 60_000 }, () => {
  // Each boot, both harts count themselves in at 0x80100008; hart 1 then parks.
  // First boot: hart 0 waits for hart 1, sets the flag and resets; second boot: exit 7 once both checked in again.
  const fw = firmware(`
  .text
  csrr a0, mhartid
  li t0, 0x80100008
  li t1, 1
  amoadd.w zero, t1, (t0)
  bnez a0, park
  li t3, 2
1: lw t1, 0(t0)
  blt t1, t3, 1b
  li t0, 0x80100000
  lw t1, 0(t0)
  li t2, 0x100000
  bnez t1, second
  li t1, 1
  sw t1, 0(t0)
  li t0, 0x80100008
  sw zero, 0(t0)
  li t1, 0x7777
  sw t1, 0(t2)
2: j 2b
second:
  li t1, (7 << 16) | 0x3333
  sw t1, 0(t2)
park:
  wfi
  j park
`);
  const r = run(['-bios', fw, ...MULTI]);
  assert.equal(r.status, 7, r.stderr);
  assert.equal(r.stderr, '');
});

test('thread=multi: both hart realms write to the UART; the guest exit code is the process exit code', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-smp-run-'));
  const out = join(dir, 'console.txt');
  // Hart h prints 'A' + h under a spinlock, then both count in; hart 0 exits 0 when both printed.
  const fw = firmware(`
  .text
  csrr a0, mhartid
  li s1, 0x80100000
  li t0, 1
1: amoswap.w.aq t1, t0, (s1)
  bnez t1, 1b
  li t2, 0x10000000
  addi t3, a0, 0x41
  sb t3, 0(t2)
  amoswap.w.rl zero, zero, (s1)
  li t0, 0x80100008
  li t1, 1
  amoadd.w zero, t1, (t0)
  bnez a0, park
  li t3, 2
2: lw t1, 0(t0)
  blt t1, t3, 2b
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
park:
  wfi
  j park
`);
  const r = run(['-bios', fw, '-smp', '2', '-accel', 'tcg,thread=multi', '-serial', `file:${out}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal([...readFileSync(out, 'latin1')].sort().join(''), 'AB');
});

test('thread=multi with -icount is one line on stderr and exit 1, before the guest runs', () => {
  const r = run(['-bios', 'none', '-icount', 'shift=0', ...MULTI]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^[^\n]*-icount needs -accel tcg,thread=single$/);
});
