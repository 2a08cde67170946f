import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildResetRom } from '../../../src/machine/virt/reset-rom.js';

test("the reset ROM matches QEMU 7.2's bytes at 0x1000 (xp /10gx 0x1000)", () => {
  const rom = buildResetRom({ startAddr: 0x80000000, fdtAddr: 0x8fe00000, nextAddr: 0 });
  const dv = new DataView(rom.buffer);
  const q = (i: number): bigint => dv.getBigUint64(i * 8, true);
  const expected = [
    0x0282861300000297n, 0x0202b583f1402573n, 0x000280670182b283n, 0x0000000080000000n, 0x000000008fe00000n,
    0x000000004942534fn, 0x0000000000000002n, 0x0000000000000000n, 0x0000000000000001n, 0x0000000000000000n,
  ];
  assert.deepEqual(expected.map((_, i) => q(i)), expected);
  assert.equal(q(10), 0n); // boot_hart
  assert.equal(rom.length, 0x58);
});

test('fw_dynamic next_addr carries the kernel entry', () => {
  const rom = buildResetRom({ startAddr: 0x80000000, fdtAddr: 0x9fe00000, nextAddr: 0x80200000 });
  assert.equal(new DataView(rom.buffer).getBigUint64(0x38, true), 0x80200000n);
});
