// A register probe recorded from QEMU 7.2's virt: a bare-metal program issued exactly these accesses to the
// UART, PLIC, CLINT and goldfish RTC and printed every value read. Replaying the same accesses on our
// devices must read the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clint } from '../../../src/hw/intc/clint.js';
import { Plic } from '../../../src/hw/intc/plic.js';
import { Serial } from '../../../src/hw/char/serial.js';
import { NullBackend } from '../../../src/hw/char/chardev.js';
import { GoldfishRtc } from '../../../src/hw/rtc/goldfish-rtc.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { FakeScheduler, RecordingHart } from '../misc/helpers.js';

const QEMU_READS =
  '01 60 b0 08 00 0f 02 01 c2 f0 f0 c1 61 c4 41 60 c2 63 c4 61 c4 60 b0 b0 34 12 0f 5a c1 07 00 00 00 ' +
  '00 00 00 00 07 00 00 00 ff ff ff ff ff ff ff ff 00 00 00 00 00 04 00 00 00 00 00 00 01 00 00 00 78 56 ' +
  '34 12 f0 de bc 9a 01 00 00 00 44 33 22 11 ff ff ff 7f 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';

test('QEMU golden register probe: UART, PLIC, CLINT, RTC read back the same bytes', () => {
  const sched = new FakeScheduler();
  const hart = new RecordingHart();
  const root = MemoryRegion.container('system', 2 ** 40);
  const plic = new Plic([hart]);
  const serial = new Serial(plic.input(10), new NullBackend());
  const clint = new Clint([hart], sched);
  const rtc = new GoldfishRtc(plic.input(11), sched, () => sched.now);
  root.addSubregion(0x10000000, serial.mr);
  root.addSubregion(0xc000000, plic.mr);
  clint.mapInto(root, 0x2000000);
  root.addSubregion(0x101000, rtc.mr);
  const as = new AddressSpace(root, 'memory');
  const out: number[] = [];
  const U = 0x10000000;
  const rb = (off: number) => out.push(as.ldub(U + off));
  const wb = (off: number, v: number) => as.stb(U + off, v);
  const rw = (a: number) => {
    const v = as.ldl(a);
    out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  };
  const ww = (a: number, v: number) => as.stl(a, v >>> 0);

  [2, 5, 6, 4, 3].forEach(rb);
  wb(1, 0x0f); rb(1); rb(2); rb(2);
  wb(2, 0x07); rb(2);
  wb(4, 0x1f); rb(6); rb(6); rb(2);
  wb(0, 0x41); rb(5); rb(2); rb(0); rb(5); rb(2);
  for (let i = 0; i < 17; i++) wb(0, 0x42);
  rb(5); rb(2); rb(5); rb(2);
  wb(2, 0x47); rb(5);
  wb(4, 0x08); rb(6); rb(6);
  wb(3, 0x83); wb(0, 0x34); wb(1, 0x12); rb(0); rb(1);
  wb(3, 0x03); rb(1);
  wb(7, 0x5a); rb(7);
  wb(1, 0x00); rb(2);
  // PLIC
  ww(0xc000004, -1); rw(0xc000004);
  ww(0xc000000, 5); rw(0xc000000);
  ww(0xc200000, 0xff); rw(0xc200000);
  ww(0xc002000, -1); rw(0xc002000);
  ww(0xc002008, -1); rw(0xc002008);
  ww(0xc00200c, -1); rw(0xc00200c);
  rw(0xc001000); rw(0xc200004);
  // CLINT
  ww(0x2000000, -1); rw(0x2000000); ww(0x2000000, 0);
  ww(0x2004000, 0x12345678); ww(0x2004004, 0x9abcdef0); rw(0x2004000); rw(0x2004004);
  // RTC
  ww(0x101010, 3); rw(0x101010);
  ww(0x10100c, 0x7fffffff); ww(0x101008, 0x11223344); rw(0x101008); rw(0x10100c); rw(0x101018);
  ww(0x101014, 1); rw(0x101018); rw(0x10101c); rw(0x101020);

  assert.equal(out.map((b) => b.toString(16).padStart(2, '0')).join(' '), QEMU_READS);
  as.destroy();
});
