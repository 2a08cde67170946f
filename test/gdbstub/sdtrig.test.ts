import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GuestConsole } from '../helpers/console.js';
import { firmware, qemuSerial, PROBE_LIB } from '../helpers/firmware.js';

const PROBE = fileURLToPath(new URL('./sdtrig-probe.S', import.meta.url));

test("a guest programs the Sdtrig triggers itself and sees what QEMU 7.2's guests see", { timeout: 120_000 }, async () => {
  const bin = firmware(readFileSync(PROBE, 'utf8') + PROBE_LIB, 'rv64imafdc_zicsr_zifencei');
  const qemuOutput = qemuSerial(bin);
  const s = GuestConsole.run(['-M', 'virt', '-m', '128M', '-nographic', '-bios', bin]);
  assert.equal(await s.exited, 0, s.stderr);
  assert.equal(s.output, qemuOutput);
  // The probe's findings, spelled out: types 2 and 6, two triggers, breakpoint exceptions (cause 3) with mtval 0.
  assert.match(s.output, /^tinfo=0000000000000044$/m);
  assert.match(s.output, /^tselect\(after 5\)=0000000000000000$/m);
  assert.match(s.output, /^tdata1\(all bits\)=200000000000005f$/m);
  assert.match(s.output, /^exec mepc-here=0000000000000000\nexec mtval=0000000000000000$/m);
  assert.equal((s.output.match(/^trap cause=0000000000000003$/gm) ?? []).length, 4);
  assert.match(s.output, /done\n$/);
  // The triggers live in the hart: the same with the hart in a worker thread.
  const mt = GuestConsole.run(['-M', 'virt', '-m', '128M', '-nographic', '-accel', 'tcg,thread=multi', '-bios', bin]);
  assert.equal(await mt.exited, 0, mt.stderr);
  assert.equal(mt.output, qemuOutput);
});
