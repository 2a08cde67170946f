/**
 * The translating engine with harts in worker threads: cross-modifying code
 * (a store from one worker invalidates another worker's translation) and
 * single-copy atomic aligned 64-bit accesses (a reader never sees a torn mix).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSmpBoard, runSmp, smpProgram } from '../machine/smp/smp-machine.js';

async function expectPass(file: string, defs: Record<string, number>): Promise<void> {
  const b = makeSmpBoard(2, smpProgram(file, { NHARTS: 2, ...defs }));
  const ram = b.ram.ramBytes();
  const r = await runSmp(b);
  const seen = Buffer.from(ram.buffer, ram.byteOffset + 0x200080, 8).readBigUInt64LE();
  assert.equal(r, 0x5555, `${file}: finisher 0x${r.toString(16)}; hart pcs ${[0, 1].map((h) => b.smp.hartPc(h).toString(16))}; value seen 0x${seen.toString(16)}; logs: ${b.logs.join(' | ')}`);
}

test('cross-modifying code: a hart worker rewrites a function another worker runs translated', { timeout: 120_000 }, async () => {
  await expectPass('smp-xmc.S', { CALLS: 20000 });
});

test('aligned 64-bit stores and loads between hart workers are never torn', { timeout: 120_000 }, async () => {
  await expectPass('smp-tear.S', { ITERS: 2_000_000 });
});
