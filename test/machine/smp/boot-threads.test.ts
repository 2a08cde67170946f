import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestConsole } from '../../helpers/console.js';

test('OpenSBI fw_jump + S-mode U-Boot with -smp 2 -accel tcg,thread=multi: 2 harts, cpu list, poweroff exits 0', { timeout: 240_000 }, async () => {
  const s = GuestConsole.run([
    '-machine', 'virt', '-m', '256M', '-smp', '2', '-accel', 'tcg,thread=multi', '-nographic',
    '-bios', '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin',
    '-kernel', '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin',
  ]);
  try {
    await s.expect(/Hit any key to stop autoboot/);
    s.send(' ');
    await s.expect(/=> /);
    s.send('cpu list\r');
    await s.expect(/0: cpu@0\s+rv64[^\n]*\n\s*1: cpu@1\s+rv64[^\n]*\n[\s\S]*?=> /);
    s.send('poweroff\r');
    assert.equal(await s.exited, 0, s.stderr);
  } finally {
    s.kill();
  }
  assert.ok(s.output.includes('Platform HART Count       : 2'), 'OpenSBI reports 2 harts');
  assert.match(s.output, /Boot HART ID\s+: [01]/);
  assert.equal(s.stderr, '');
});

test('-accel tcg,thread=multi with -icount is refused before the guest runs', async () => {
  const s = GuestConsole.run(['-machine', 'virt', '-smp', '2', '-accel', 'tcg,thread=multi', '-icount', 'shift=0', '-bios', 'none']);
  try {
    assert.equal(await s.exited, 1);
  } finally {
    s.kill();
  }
  assert.match(s.stderr, /-icount needs -accel tcg,thread=single/);
});
