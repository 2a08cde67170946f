import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRig, type Rig } from '../pci/helpers.js';
import { createEdu, eduFactorial, EDU_ID, type EduDevice } from '../../../src/hw/misc/edu.js';
import { MEMTX_OK } from '../../../src/memory/types.js';

const BAR = 0x40000000;

function setup(opts: { busMaster?: boolean; dmaMask?: number } = {}): { r: Rig; edu: EduDevice; fn: number } {
  const r = makeRig();
  // RAM is at 0x80000000: wider than QEMU's default 28-bit DMA mask (what a driver sets with dma_mask).
  const edu = createEdu({ scheduler: r.sched, dmaMask: opts.dmaMask ?? 2 ** 40 - 1 });
  const fn = r.host.addDevice(edu);
  r.cfgWrite(fn, 0x10, 4, BAR);
  r.cfgWrite(fn, 4, 2, opts.busMaster === false ? 0x2 : 0x6);
  return { r, edu, fn };
}

test('edu identifies as QEMU\'s: 1234:11e8 rev 0x10, class 0x00ff, INTA, MSI capability, 1 MiB BAR0', () => {
  const r = makeRig();
  const edu = createEdu({ scheduler: r.sched });
  const fn = r.host.addDevice(edu);
  assert.equal(fn, 8, 'first free slot after the host bridge: 00:01.0');
  assert.equal(r.cfgRead(fn, 0, 4), 0x11e81234);
  assert.equal(r.cfgRead(fn, 8, 4), 0x00ff0010);
  assert.equal(r.cfgRead(fn, 0x2c, 4), 0x11001af4);
  assert.equal(r.cfgRead(fn, 0x3d, 1), 1);
  assert.equal(r.cfgRead(fn, 6, 2), 0x0010);
  assert.equal(r.cfgRead(fn, r.cfgRead(fn, 0x34, 1), 1), 0x05);
  r.cfgWrite(fn, 0x10, 4, 0xffffffff);
  assert.equal(r.cfgRead(fn, 0x10, 4), 0xfff00000);
});

test('ID, liveness and factorial registers', () => {
  const { r } = setup();
  assert.equal(r.as.ldl(BAR), EDU_ID);
  r.as.stl(BAR + 4, 0x12345678);
  assert.equal(r.as.ldl(BAR + 4), 0xedcba987);
  r.as.stl(BAR + 8, 10);
  assert.equal(r.as.ldl(BAR + 0x20) & 1, 1, 'computing');
  r.as.stl(BAR + 8, 3); // ignored while computing
  r.sched.advance();
  assert.equal(r.as.ldl(BAR + 0x20) & 1, 0);
  assert.equal(r.as.ldl(BAR + 8), 3628800);
  assert.equal(eduFactorial(13), 1932053504, '13! wraps at 32 bits');
  assert.equal(eduFactorial(34), 0);
  assert.equal(eduFactorial(0xffffffff), 0);
  assert.equal(r.as.ldl(BAR + 0x100), 0xffffffff, 'unknown register');
});

test('interrupts via INTx: raise, factorial completion, acknowledge', () => {
  const { r, fn } = setup();
  const line = 1; // slot 1, INTA
  r.as.stl(BAR + 0x60, 0x40);
  assert.equal(r.irqLevels[line], true);
  assert.equal(r.as.ldl(BAR + 0x24), 0x40);
  assert.equal(r.cfgRead(fn, 6, 2) & 0x8, 0x8);
  r.as.stl(BAR + 0x64, 0x40);
  assert.equal(r.irqLevels[line], false);
  r.as.stl(BAR + 0x20, 0x80);
  r.as.stl(BAR + 8, 5);
  r.sched.advance();
  assert.equal(r.as.ldl(BAR + 8), 120);
  assert.equal(r.as.ldl(BAR + 0x24), 0x1);
  assert.equal(r.irqLevels[line], true);
  r.as.stl(BAR + 0x64, 0x1);
  assert.equal(r.irqLevels[line], false);
  assert.equal(r.sink.messages.length, 0);
});

test('interrupts via MSI', () => {
  const { r, edu, fn } = setup();
  const c = edu.msi.offset;
  r.cfgWrite(fn, c + 4, 4, 0x2400_0000);
  r.cfgWrite(fn, c + 8, 4, 0);
  r.cfgWrite(fn, c + 12, 2, 0x21);
  r.cfgWrite(fn, c + 2, 2, 0x1);
  r.as.stl(BAR + 0x60, 0x2);
  assert.deepEqual(r.sink.messages, [{ address: 0x2400_0000, data: 0x21, requesterId: fn }]);
  assert.deepEqual(r.irqLevels, [false, false, false, false], 'no INTx while MSI is on');
  r.as.stl(BAR + 0x64, 0x2);
  assert.equal(r.as.ldl(BAR + 0x24), 0);
});

test('DMA between guest RAM and the buffer with bus mastering on, completing after 100 ms of virtual time', () => {
  const { r, edu } = setup();
  const pattern = Array.from({ length: 100 }, (_, i) => (i * 7 + 3) & 0xff);
  r.as.write(0x80001000, new Uint8Array(pattern));
  r.as.stl(BAR + 0x80, 0x80001000);
  r.as.stl(BAR + 0x88, 0x40000);
  r.as.stl(BAR + 0x90, 100);
  r.as.stl(BAR + 0x98, 0x1);
  assert.equal(r.as.ldl(BAR + 0x98) & 1, 1, 'running');
  r.as.stl(BAR + 0x80, 0xdead); // frozen while running
  assert.equal(r.as.ldl(BAR + 0x80), 0x80001000);
  r.sched.advance(50_000_000);
  assert.equal(r.as.ldl(BAR + 0x98) & 1, 1, 'still running at 50 ms');
  r.sched.advance(50_000_000);
  assert.equal(r.as.ldl(BAR + 0x98) & 1, 0);
  assert.deepEqual([...edu.dmaBuf.subarray(0, 100)], pattern);
  // Back out to RAM, with the completion interrupt; 8-byte register writes.
  r.as.stq(BAR + 0x80, 0x40000n);
  r.as.stq(BAR + 0x88, 0x80002000n);
  r.as.stq(BAR + 0x90, 100n);
  assert.equal(r.as.ldq(BAR + 0x88), 0x80002000n);
  r.as.stl(BAR + 0x98, 0x7);
  r.sched.advance(100_000_000);
  const out = new Uint8Array(100);
  r.as.read(0x80002000, out);
  assert.deepEqual([...out], pattern);
  assert.equal(r.as.ldl(BAR + 0x24), 0x100);
  assert.equal(r.irqLevels[1], true);
  assert.equal(edu.dmaErrors, 0);
});

test('DMA fails cleanly with bus mastering off: nothing moves, the transfer still completes', () => {
  const { r, edu } = setup({ busMaster: false });
  r.as.write(0x80001000, new Uint8Array([1, 2, 3, 4]));
  edu.dmaBuf.fill(0xcc);
  r.as.stl(BAR + 0x80, 0x80001000);
  r.as.stl(BAR + 0x88, 0x40000);
  r.as.stl(BAR + 0x90, 4);
  r.as.stl(BAR + 0x98, 0x5);
  r.sched.advance(100_000_000);
  assert.equal(r.as.ldl(BAR + 0x98) & 1, 0);
  assert.deepEqual([...edu.dmaBuf.subarray(0, 4)], [0xcc, 0xcc, 0xcc, 0xcc], 'buffer untouched');
  assert.equal(edu.dmaErrors, 1);
  assert.notEqual(edu.lastDmaResult, MEMTX_OK);
  assert.equal(r.as.ldl(BAR + 0x24), 0x100, 'completion interrupt still raised');
  // Buffer to RAM: RAM untouched.
  r.as.stl(BAR + 0x80, 0x40000);
  r.as.stl(BAR + 0x88, 0x80003000);
  r.as.stl(BAR + 0x90, 4);
  r.as.stl(BAR + 0x98, 0x3);
  r.sched.advance(100_000_000);
  assert.equal(r.as.ldl(0x80003000), 0);
  assert.equal(edu.dmaErrors, 2);
});

test('DMA with a buffer range outside 0x40000..0x40fff does nothing; addresses are clamped to the DMA mask', () => {
  const { r, edu } = setup({ dmaMask: 2 ** 28 - 1 });
  r.as.stl(BAR + 0x80, 0x80001000);
  r.as.stl(BAR + 0x88, 0x40f00);
  r.as.stl(BAR + 0x90, 0x200);
  r.as.stl(BAR + 0x98, 0x1);
  r.sched.advance(100_000_000);
  assert.equal(edu.dmaErrors, 1);
  assert.equal(r.as.ldl(BAR + 0x98) & 1, 0);
  // 0x80001000 & (2^28 - 1) = 0x1000: unassigned, so the DMA fails (the default mask is QEMU's 28 bits).
  edu.dmaBuf.fill(0x11);
  r.as.stl(BAR + 0x80, 0x40000);
  r.as.stq(BAR + 0x88, 0xf_8000_4000n);
  r.as.stl(BAR + 0x90, 16);
  r.as.stl(BAR + 0x98, 0x3);
  r.sched.advance(100_000_000);
  assert.equal(edu.dmaErrors, 2);
  assert.equal(r.as.ldl(0x80004000), 0);
});

test('DMA aimed at the device\'s own BAR is refused by the reentrancy guard; the device stays usable', () => {
  const { r, edu } = setup();
  const wide = createEdu({ scheduler: r.sched, dmaMask: 2 ** 32 - 1, name: 'edu-wide' });
  const fn = r.host.addDevice(wide);
  const bar = 0x40100000;
  r.cfgWrite(fn, 0x10, 4, bar);
  r.cfgWrite(fn, 4, 2, 0x6);
  wide.dmaBuf.fill(0x77);
  r.as.stl(bar + 0x80, 0x40000);
  r.as.stl(bar + 0x88, bar + 0x60); // the raise-interrupt register of its own BAR
  r.as.stl(bar + 0x90, 4);
  r.as.stl(bar + 0x98, 0x3);
  r.sched.advance(100_000_000);
  assert.equal(wide.dmaErrors, 1);
  assert.equal(r.as.ldl(bar + 0x24), 0, 'the write never reached the raise register');
  assert.equal(r.as.ldl(bar), EDU_ID, 'still answers');
  assert.equal(edu.dmaErrors, 0);
});

test('removal stops a transfer in flight', () => {
  const { r, edu } = setup();
  r.as.stl(BAR + 0x80, 0x40000);
  r.as.stl(BAR + 0x88, 0x80005000);
  r.as.stl(BAR + 0x90, 4);
  edu.dmaBuf.fill(0x99);
  r.as.stl(BAR + 0x98, 0x3);
  r.host.removeDevice(edu);
  r.sched.advance(200_000_000);
  assert.equal(r.as.ldl(0x80005000), 0);
  assert.equal(r.as.ldl(BAR), 0xffffffff);
});
