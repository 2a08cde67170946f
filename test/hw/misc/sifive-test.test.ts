import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SifiveTest, type ShutdownKind } from '../../../src/hw/misc/sifive-test.js';
import { rd, wr, fuzzRegion } from './helpers.js';

function make() {
  const calls: Array<[ShutdownKind, number]> = [];
  const dev = new SifiveTest((k, c) => calls.push([k, c]));
  return { dev, calls, mr: dev.mr };
}

test('sifive-test: region and finisher codes', () => {
  const { mr, calls } = make();
  assert.equal(mr.name, 'riscv.sifive.test');
  assert.equal(mr.size, 0x1000);
  wr(mr, 0, 0x5555);
  wr(mr, 0, 0x7777);
  wr(mr, 0, (3 << 16) | 0x3333);
  wr(mr, 0, 0xffff3333);
  wr(mr, 0, 0x5555, 2);
  assert.deepEqual(calls, [['poweroff', 0], ['reset', 0], ['fail', 3], ['fail', 0xffff], ['poweroff', 0]]);
  assert.equal(rd(mr, 0), 0);
});

test('sifive-test: other values and offsets are ignored', () => {
  const { mr, calls } = make();
  wr(mr, 0, 0x1234);
  wr(mr, 4, 0x5555);
  wr(mr, 0xffc, 0x7777);
  wr(mr, 0, 0x00015556);
  assert.equal(calls.length, 0);
  // Random traffic never throws; whatever it reports is one of the three kinds.
  fuzzRegion(mr, 0x1000, 5000, 5);
  assert.ok(calls.every(([k]) => k === 'poweroff' || k === 'reset' || k === 'fail'));
});
