import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MEMTX_ACCESS_ERROR, MEMTX_OK } from '../../src/memory/types.js';
import { EventLoop } from '../../src/machine/event-loop.js';
import { DispatchContext, currentContext, runOnBehalf, withContext } from '../../src/dma/guard.js';
import { DMA_DIRECTION_FROM_DEVICE, configureDma, dmaWrite } from '../../src/dma/dma.js';
import { SgList } from '../../src/dma/sglist.js';
import { dmaBlkIo } from '../../src/dma/block-io.js';
import { TestDmaDevice, REG_CMD, REG_DST, REG_LEN, REG_SCRATCH, REG_SRC, REG_STATUS } from './test-device.js';

const RAM = 0x8000_0000;
const BAR_A = 0x4000_0000;
const BAR_B = 0x4000_1000;

function setup() {
  const log: string[] = [];
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const sys = MemoryRegion.container('system', 2 ** 32);
  const ram = MemoryRegion.ram('ram', 0x10000);
  sys.addSubregion(RAM, ram);
  const a = new TestDmaDevice('devA', 0x08, loop);
  const b = new TestDmaDevice('devB', 0x10, loop);
  sys.addSubregion(BAR_A, a.mmio);
  sys.addSubregion(BAR_B, b.mmio);
  const as = new AddressSpace(sys, 'guard-test', { log: (m) => log.push(m) });
  a.dma = as;
  b.dma = as;
  return { as, loop, a, b, ram: ram.ramBytes(), log };
}

/** Program a device's registers the way a vCPU would (through the address space). */
function program(as: AddressSpace, bar: number, src: number, dst: number, len: number, cmd: number): void {
  as.stl(bar + REG_SRC, src);
  as.stl(bar + REG_DST, dst);
  as.stl(bar + REG_LEN, len);
  as.stl(bar + REG_CMD, cmd);
}

test('MMIO -> DMA -> own MMIO is refused, logged once per region, and the device stays usable', () => {
  const { as, a, ram, log } = setup();
  ram.set([0x78, 0x56, 0x34, 0x12], 0);
  // The DMA destination is the device's own SCRATCH register.
  program(as, BAR_A, RAM, BAR_A + REG_SCRATCH, 4, 1);
  assert.equal(a.status, MEMTX_ACCESS_ERROR);
  assert.equal(a.scratch, 0, 'the re-entrant write never reached the register');
  assert.equal(a.mmio.reentrancyRefusals, 1);
  assert.equal(a.owner.reentrancyGuard.refused, 1);
  // Again: counted, not logged again.
  as.stl(BAR_A + REG_CMD, 1);
  assert.equal(a.mmio.reentrancyRefusals, 2);
  assert.equal(log.filter((l) => l.includes('devA-mmio')).length, 1);
  // The device still works: a DMA to RAM succeeds, and the vCPU can reach its registers.
  program(as, BAR_A, RAM, RAM + 0x100, 4, 1);
  assert.equal(a.status, MEMTX_OK);
  assert.deepEqual(Array.from(ram.subarray(0x100, 0x104)), [0x78, 0x56, 0x34, 0x12]);
  as.stl(BAR_A + REG_SCRATCH, 0xabcd);
  assert.equal(as.ldl(BAR_A + REG_SCRATCH), 0xabcd);
  assert.equal(as.ldl(BAR_A + REG_STATUS), MEMTX_OK);
  assert.equal(currentContext().chainDepth, 0, 'nothing left engaged');
  as.destroy();
});

test('a bottom half -> DMA -> own MMIO is refused too (the event loop runs it on behalf of its owner)', () => {
  const { as, loop, a, ram } = setup();
  ram.set([1, 0, 0, 0], 0);
  program(as, BAR_A, RAM, BAR_A + REG_SCRATCH, 4, 2);
  assert.equal(a.copies, 0, 'deferred to the bottom half');
  assert.equal(loop.runBottomHalves(), 1);
  assert.equal(a.copies, 1);
  assert.equal(a.status, MEMTX_ACCESS_ERROR);
  assert.equal(a.scratch, 0);
  assert.equal(a.mmio.reentrancyRefusals, 1);
  // The same bottom half copying to RAM works.
  program(as, BAR_A, RAM, RAM + 0x40, 4, 2);
  loop.runBottomHalves();
  assert.equal(a.status, MEMTX_OK);
  assert.equal(ram[0x40], 1);
  // Timers too.
  const t = loop.newTimer(() => a.copy(), a.owner);
  as.stl(BAR_A + REG_DST, BAR_A + REG_SCRATCH);
  t.mod(0);
  assert.equal(loop.runTimers(), 1);
  assert.equal(a.status, MEMTX_ACCESS_ERROR);
  assert.equal(currentContext().chainDepth, 0);
  as.destroy();
});

test('two devices ping-ponging DMA back into the first are stopped at the first re-entry', () => {
  const { as, a, b, ram } = setup();
  // B will copy RAM[0x20..] into A's SCRATCH when started.
  program(as, BAR_B, RAM + 0x20, BAR_A + REG_SCRATCH, 4, 0);
  ram.set([0xaa, 0xbb, 0, 0], 0x20);
  // A copies "1" from RAM into B's CMD register, starting B from inside A's handler.
  ram.set([1, 0, 0, 0], 0x10);
  program(as, BAR_A, RAM + 0x10, BAR_B + REG_CMD, 4, 1);
  assert.equal(b.copies, 1, 'A reached B (a different device)');
  assert.equal(b.status, MEMTX_ACCESS_ERROR, "B's DMA back into A was refused");
  assert.equal(a.scratch, 0);
  assert.equal(a.status, MEMTX_OK, "A's own DMA into B succeeded");
  assert.equal(a.mmio.reentrancyRefusals, 1);
  assert.equal(b.mmio.reentrancyRefusals, 0);
  // B started by the vCPU can write A's register: no chain through A.
  as.stl(BAR_B + REG_CMD, 1);
  assert.equal(b.status, MEMTX_OK);
  assert.equal(a.scratch, 0xbbaa);
  as.destroy();
});

test('per transaction: an access from another task is not refused while a device is engaged in a suspended one', () => {
  const { as, a } = setup();
  const suspended = new DispatchContext('bh-task');
  // The task is inside A's handler (e.g. an explorer task preempted at a sync point there).
  suspended.push(a.owner.reentrancyGuard);
  assert.equal(withContext(suspended, () => as.stl(BAR_A + REG_SCRATCH, 5)), MEMTX_ACCESS_ERROR);
  // A vCPU in another transaction reaches A normally (QEMU's per-device flag would refuse it).
  assert.equal(as.stl(BAR_A + REG_SCRATCH, 7), MEMTX_OK);
  assert.equal(a.scratch, 7);
  // A forked context (an async transfer started by the task) is still part of the transaction.
  const fork = suspended.fork('dma');
  assert.equal(withContext(fork, () => dmaWrite(as, BAR_A + REG_SCRATCH, Uint8Array.of(9, 0, 0, 0))), MEMTX_ACCESS_ERROR);
  assert.equal(a.scratch, 7);
  suspended.remove(a.owner.reentrancyGuard);
  assert.equal(withContext(suspended, () => as.stl(BAR_A + REG_SCRATCH, 5)), MEMTX_OK);
  as.destroy();
});

test('a region may opt out only with a reason; runOnBehalf without a guarded owner just runs', () => {
  const { as, a, ram } = setup();
  assert.throws(() => a.mmio.disableReentrancyGuard(''), /reason/);
  a.mmio.disableReentrancyGuard('test: the SCRATCH register is a plain latch, re-entry is harmless');
  ram.set([3, 0, 0, 0], 0);
  program(as, BAR_A, RAM, BAR_A + REG_SCRATCH, 4, 1);
  assert.equal(a.status, MEMTX_OK);
  assert.equal(a.scratch, 3);
  assert.equal(runOnBehalf({ name: 'plain' }, () => 42), 42);
  assert.equal(runOnBehalf(undefined, () => 43), 43);
  as.destroy();
});

test('an async block transfer started by a bottom half stays in its transaction: its later chunks cannot reach the device', async () => {
  const { as, loop, a, ram } = setup();
  configureDma(as, { bounceBudget: 4 });
  const sg = new SgList(as);
  sg.add(RAM + 0x200, 4);
  sg.add(BAR_A + REG_SCRATCH, 4); // a later chunk aims at the device itself
  let transfer: ReturnType<typeof dmaBlkIo> | null = null;
  const bh = loop.newBottomHalf(() => {
    transfer = dmaBlkIo(sg, 0, DMA_DIRECTION_FROM_DEVICE, async (iov) => {
      await new Promise((r) => setImmediate(r));
      for (const v of iov) v.fill(0x3c);
    }, { maxChunk: 4 });
  }, a.owner);
  bh.schedule();
  loop.runBottomHalves();
  assert.equal(currentContext().chainDepth, 0, 'the bottom half itself has finished');
  const r = await transfer!.done;
  assert.equal(ram[0x200], 0x3c, 'the RAM chunk landed');
  assert.equal(r.status, 'error');
  assert.equal(r.result, MEMTX_ACCESS_ERROR, "the write-back into the device's own register was refused");
  assert.equal(a.scratch, 0);
  // The same transfer started by a vCPU (no device engaged) reaches the register.
  const ok = await dmaBlkIo(sg, 0, DMA_DIRECTION_FROM_DEVICE, async (iov) => {
    for (const v of iov) v.fill(0x3c);
  }, { maxChunk: 4 }).done;
  assert.equal(ok.status, 'ok');
  assert.equal(a.scratch, 0x3c3c3c3c);
  as.destroy();
});
