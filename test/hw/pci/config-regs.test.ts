import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigRegisters, ConfigRegisterError } from '../../../src/hw/pci/config-regs.js';

test('RW register stores writes of every width', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'scratch', offset: 0x40, size: 4 });
  c.write(0x40, 4, 0x12345678);
  assert.equal(c.read(0x40, 4), 0x12345678);
  assert.equal(c.read(0x41, 1), 0x56);
  assert.equal(c.read(0x42, 2), 0x1234);
});

test('RO bits keep their old value', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'r', offset: 0x40, size: 2, reset: 0xa5a5, ro: 0xff00 });
  c.write(0x40, 2, 0x1234);
  assert.equal(c.read(0x40, 2), 0xa534);
});

test('RW1C bits clear on 1 and keep on 0', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'sts', offset: 0x40, size: 2, reset: 0xf00f, rw1c: 0xf000, ro: 0x000f });
  c.write(0x40, 2, 0x3000);
  assert.equal(c.read(0x40, 2), 0xc00f);
  c.write(0x40, 2, 0x0000);
  assert.equal(c.read(0x40, 2), 0xc00f);
});

test('partial write to a RW1C register does not clear bits in unwritten bytes', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'sts', offset: 0x40, size: 4, reset: 0xffffffff, rw1c: 0xffffffff });
  c.write(0x41, 1, 0x01);
  assert.equal(c.read(0x40, 4), 0xfffffeff);
});

test('RsvdP reads 0 and preserves the stored value; RsvdZ reads 0 and stores 0', () => {
  const seen: number[] = [];
  const c = new ConfigRegisters(256);
  c.add({ name: 'p', offset: 0x40, size: 4, reset: 0xff000000, rsvdp: 0xff000000, write: (v) => void seen.push(v) });
  c.add({ name: 'z', offset: 0x44, size: 4, reset: 0, rsvdz: 0xffff0000 });
  assert.equal(c.read(0x40, 4), 0);
  c.write(0x40, 4, 0x00abcdef);
  assert.equal(c.read(0x40, 4), 0x00abcdef);
  assert.equal(seen[0], 0xffabcdef, 'write hook sees preserved reserved bits');
  assert.equal(c.stored(0x40), 0xffabcdef);
  c.write(0x44, 4, 0xffffffff);
  assert.equal(c.read(0x44, 4), 0x0000ffff);
  assert.equal(c.stored(0x44), 0x0000ffff);
});

test('partial writes read-modify-write the register', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'r', offset: 0x40, size: 4, reset: 0x11223344 });
  c.write(0x42, 1, 0xaa);
  assert.equal(c.read(0x40, 4), 0x11aa3344);
  c.write(0x42, 2, 0xbbcc);
  assert.equal(c.read(0x40, 4), 0xbbcc3344);
});

test('an access spanning registers and gaps merges them; gaps read all-ones', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'a', offset: 0x40, size: 1, reset: 0x11 });
  c.add({ name: 'b', offset: 0x42, size: 2, reset: 0x3322 });
  assert.equal(c.read(0x40, 4), 0x3322ff11);
  assert.equal(c.read(0x41, 1), 0xff);
  assert.equal(c.read(0x3c, 4), 0xffffffff);
  c.write(0x40, 4, 0x66554477);
  assert.equal(c.read(0x40, 4), 0x6655ff77);
  assert.equal(c.read(0xff, 1), 0xff);
  assert.equal(c.read(0xfe, 4), 0xffffffff, 'bytes beyond the space read as all-ones');
  c.write(0xfe, 4, 0); // dropped, no throw
});

test('read hooks supply values; changed hooks see stored values', () => {
  let live = 7;
  const changes: [number, number][] = [];
  const c = new ConfigRegisters(256);
  c.add({ name: 'live', offset: 0x40, size: 2, read: () => live });
  c.add({ name: 'w', offset: 0x44, size: 4, write: (v) => v & ~0xf, changed: (v, o) => void changes.push([v, o]) });
  assert.equal(c.read(0x40, 2), 7);
  live = 9;
  assert.equal(c.read(0x40, 1), 9);
  c.write(0x44, 4, 0xffffffff);
  assert.deepEqual(changes, [[0xfffffff0, 0]]);
  assert.equal(c.read(0x44, 4), 0xfffffff0);
});

test('invalid registrations throw ConfigRegisterError', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'a', offset: 0x40, size: 4 });
  assert.throws(() => c.add({ name: 'ov', offset: 0x42, size: 2 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'ov1', offset: 0x43, size: 1 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'mis', offset: 0x45, size: 2 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'mis4', offset: 0x46, size: 4 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'odd', offset: 0x48, size: 3 as 4 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'out', offset: 0x100, size: 4 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'neg', offset: -4, size: 4 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'mask', offset: 0x4c, size: 1, ro: 0x100 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'both', offset: 0x4c, size: 1, ro: 1, rw1c: 1 }), ConfigRegisterError);
  assert.throws(() => c.add({ name: 'reset', offset: 0x4c, size: 1, reset: 0x100 }), ConfigRegisterError);
  assert.throws(() => new ConfigRegisters(512), ConfigRegisterError);
  // A failed registration leaves no trace.
  c.add({ name: 'ok', offset: 0x4c, size: 1 });
  assert.deepEqual(c.layout().map((r) => r.name), ['a', 'ok']);
});

test('invalid access sizes read all-ones and drop writes', () => {
  const c = new ConfigRegisters(256);
  c.add({ name: 'a', offset: 0, size: 4, reset: 5 });
  assert.equal(c.read(0, 8), 0xffffffff);
  assert.equal(c.read(0, 0), 0xffffffff);
  c.write(0, 8, 0);
  c.write(0.5, 4, 0);
  assert.equal(c.read(0, 4), 5);
});
