import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../../src/memory/region.js';
import { makeSmpBoard, runSmp, smpProgram, type SmpBoard } from './smp-machine.js';

async function expectPass(file: string, defs: Record<string, number>, harts = 2): Promise<SmpBoard> {
  const b = makeSmpBoard(harts, smpProgram(file, { NHARTS: harts, ...defs }));
  const r = await runSmp(b);
  assert.equal(r, 0x5555, `${file}: finisher 0x${r.toString(16)}; hart pcs ${[0, 1].map((h) => b.smp.hartPc(h).toString(16))}; logs: ${b.logs.join(' | ')}`);
  return b;
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

test('message passing with CLINT IPIs across hart realms (WFI wakes on MSIP); the harts run the SWI accesses themselves', { timeout: 60_000 }, async () => {
  const b = await expectPass('smp-ipi.S', { ROUNDS: 200 });
  // 800 MSIP writes (each round raises and clears both harts' bits); the main realm
  // answered only the finisher's write.
  assert.equal(b.smp.server.served, 1);
});

test('a hart worker that throws stops the machine with an error naming the hart and its PC; nothing stays blocked', { timeout: 60_000 }, async () => {
  const b = makeSmpBoard(2, smpProgram('smp-amo.S', { NHARTS: 2, ITERS: 50_000_000 }), 8 << 20, { hart: 1, afterSteps: 100_000 });
  const t0 = Date.now();
  const r = await runSmp(b);
  assert.equal(r, 0, 'the guest did not finish');
  assert.match(b.logs.join('\n'), /^hart 1: injected fault \(last pc=0x800000[0-9a-f]{2}\)$/m);
  assert.ok(Date.now() - t0 < 30_000);
});

test('hart realms reach a device living in an I/O-thread realm directly (values and requester ids)', { timeout: 60_000 }, async () => {
  const b = makeSmpBoard(2, smpProgram('smp-iothread.S', { NHARTS: 2 }), 8 << 20, undefined, 1);
  const devs = await b.smp.startIoThread(0, new URL('./fixtures/io-devices.ts', import.meta.url).href, { kind: 'regs' });
  b.system.addSubregion(0x10000000, devs.get('regs')!);
  const r = await runSmp(b);
  assert.equal(r, 0x5555, `finisher 0x${r.toString(16)}; logs: ${b.logs.join(' | ')}`);
  assert.equal(b.smp.server.served, 1, 'only the finisher write went through the main realm');
});

test('a device callback that throws while serving a hart realm ends the run with that error; the hart is released', { timeout: 60_000 }, async () => {
  const b = makeSmpBoard(2, smpProgram('smp-mmio.S', { NHARTS: 2, READS: 1000 }));
  b.system.addSubregion(
    0x10000000,
    MemoryRegion.io('buggy', 0x100, {
      read: () => {
        throw new Error('device bug');
      },
    }),
  );
  await assert.rejects(runSmp(b), /device bug/);
  // The hart got MEMTX_ERROR: a load access fault (cause 5), unless it was stopped first.
  assert.ok(b.result() === 0 || b.result() === 0x80053333, `finisher 0x${b.result().toString(16)}`);
});
