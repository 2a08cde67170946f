/**
 * Zba, Zbb, Zbc and Zbs: a bare-metal probe runs every instruction on a table of operand pairs
 * 3,000 times over (its blocks get hot and run translated) and prints the last pass's results
 * and a checksum of all of them; its output under tsvmm — translating, interpreting, and with
 * the hart in a worker thread — must equal QEMU 7.2's. The one place QEMU 7.2 departs from
 * the specification (ctzw of a value whose low word is 0 but not its high word) is checked
 * against the specification instead, under both engines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GuestConsole } from '../helpers/console.js';
import { firmware, qemuSerial, PROBE_LIB } from '../helpers/firmware.js';
import { assemble, makeMachine, MARCH_ZB, runGuest } from './guest.js';

const PROBE = fileURLToPath(new URL('./fixtures/zb-probe.S', import.meta.url));

test("every Zba/Zbb/Zbc/Zbs instruction gives what QEMU 7.2's does, interpreted, translated and through regions", { timeout: 180_000 }, async () => {
  const bin = firmware(readFileSync(PROBE, 'utf8') + PROBE_LIB, MARCH_ZB);
  const qemuOutput = qemuSerial(bin);
  // 12 operand pairs x 56 results, the checksum, done.
  assert.equal(qemuOutput.split('\n').length, 12 * 56 + 3);
  assert.match(qemuOutput, /^sum=[0-9a-f]{16}\ndone\n$/m);
  for (const accel of [[], ['-accel', 'tcg,jit=off'], ['-accel', 'tcg,thread=multi'], ['-accel', 'tcg,thread=multi,regions=on'], ['-accel', 'tcg,threaded=on']]) {
    const s = GuestConsole.run(['-M', 'virt', '-m', '128M', '-nographic', ...accel, '-bios', bin]);
    assert.equal(await s.exited, 0, s.stderr);
    assert.equal(s.output, qemuOutput, accel.join(' ') || 'default');
  }
});

test('ctzw counts the low word only (32 when it is 0), as the specification says', () => {
  // QEMU 7.2 returns 63 for the first operand: it counts on past bit 31.
  const src = `
main:
  li s2, 0x8000000000000000
  li s3, 0x4000000000000001
  li s4, 0x8000000000000010
  li s5, 0
  li s6, 0
1:
  ctzw a0, s2
  ctzw a1, s3
  ctzw a2, s4
  clzw a3, s3
  cpopw a4, s2
  add s5, s5, a0
  add s5, s5, a1
  add s5, s5, a2
  add s5, s5, a3
  add s5, s5, a4
  addi s6, s6, 1
  li t0, 100
  bne s6, t0, 1b
  CHECK a0, 32
  CHECK a1, 0
  CHECK a2, 4
  CHECK a3, 31
  CHECK a4, 0
  CHECK s5, 6700
  PASS
`;
  const image = assemble(src, MARCH_ZB);
  for (const opts of [{ translate: false }, { translate: true, translateThreshold: 2 }]) {
    const m = makeMachine(image, 8 << 20, opts);
    runGuest(m);
    assert.equal(m.result(), 0x5555, `translate ${opts.translate}: check ${m.result() >> 16} failed`);
    if (opts.translate) assert.ok(m.hart.jit!.stats.translated > 0);
  }
});
