import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSmpBoard, runSmp, smpProgram } from './smp-machine.js';

async function expectPass(file: string, defs: Record<string, number>, harts = 2): Promise<void> {
  const b = makeSmpBoard(harts, smpProgram(file, { NHARTS: harts, ...defs }));
  const r = await runSmp(b);
  assert.equal(r, 0x5555, `${file}: finisher 0x${r.toString(16)}; hart pcs ${[0, 1].map((h) => b.smp.hartPc(h).toString(16))}; logs: ${b.logs.join(' | ')}`);
}

test('two hart workers increment shared counters with AMOs: exact totals', { timeout: 60_000 }, async () => {
  await expectPass('smp-amo.S', { ITERS: 200_000 });
});

test('two hart workers increment shared counters with LR/SC loops: exact totals', { timeout: 60_000 }, async () => {
  await expectPass('smp-lrsc.S', { ITERS: 100_000 });
});

test('a spinlock in guest code keeps a plain read-modify-write exact, nobody else inside', { timeout: 60_000 }, async () => {
  await expectPass('smp-mutex.S', { ITERS: 50_000 });
});

test('message passing with CLINT IPIs across hart realms (WFI wakes on MSIP)', { timeout: 60_000 }, async () => {
  await expectPass('smp-ipi.S', { ROUNDS: 200 });
});
