import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CCW_FLAG_CC,
  CCW_FLAG_CD,
  CCW_FLAG_SKIP,
  CCW_FLAG_SLI,
  CCW_FLAG_SUSPEND,
  CCW_FLAG_IDA,
  CS_INCORRECT_LENGTH,
  CS_PROGRAM_CHECK,
  DS_CHANNEL_END,
  DS_DEVICE_END,
  DS_UNIT_CHECK,
} from '../../../src/hw/css/bits.js';
import { runChannelProgram, type ChannelProgramOptions } from '../../../src/hw/css/channel-program.js';
import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { StoreDevice, STORE_CMD_FAIL, STORE_CMD_READ, STORE_CMD_WRITE } from '../../../src/hw/css/store-device.js';
import { ccw0, ccw1 } from './helpers.js';

const F1: ChannelProgramOptions = { format1: true, suspendCtl: false, ils: false, budget: 64 };

function fresh() {
  const mem = new ArrayGuestMemory(0x10000);
  mem.write(0x2000, new Uint8Array([10, 11, 12, 13, 14, 15, 16, 17]));
  return { mem, dev: new StoreDevice() };
}

test('command chaining runs each CCW; CCW address points past the last one', () => {
  const { mem, dev } = fresh();
  ccw1(mem, 0x100, STORE_CMD_WRITE, CCW_FLAG_CC, 2, 0x2000);
  ccw1(mem, 0x108, 0x03, CCW_FLAG_CC | CCW_FLAG_SLI, 0, 0);
  ccw1(mem, 0x110, STORE_CMD_WRITE, 0, 2, 0x2004);
  const o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.programCheck, null);
  assert.deepEqual(dev.written, [10, 11, 14, 15]);
  assert.deepEqual(dev.commands, [STORE_CMD_WRITE, 0x03, STORE_CMD_WRITE]);
  assert.equal(o.cpa, 0x118);
  assert.equal(o.dstat, DS_CHANNEL_END | DS_DEVICE_END);
  assert.equal(o.cstat, 0);
  assert.equal(o.count, 0);
});

test('TIC transfers control; data chaining gathers one data area across CCWs', () => {
  const { mem, dev } = fresh();
  ccw1(mem, 0x100, 0x08, 0, 0, 0x300);
  ccw1(mem, 0x300, STORE_CMD_WRITE, CCW_FLAG_CD, 1, 0x2000);
  ccw1(mem, 0x308, 0xff /* ignored under data chaining */, 0, 2, 0x2006);
  const o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.programCheck, null);
  assert.deepEqual(dev.written, [10, 16, 17]);
  assert.deepEqual(dev.commands, [STORE_CMD_WRITE]);
  assert.equal(o.cpa, 0x310);
});

test('read with skip and incorrect length; SLI suppresses it', () => {
  const { mem, dev } = fresh();
  dev.readData = new Uint8Array([1, 2, 3]);
  ccw1(mem, 0x100, STORE_CMD_READ, 0, 8, 0x3000);
  let o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.cstat, CS_INCORRECT_LENGTH);
  assert.equal(o.count, 5);
  assert.deepEqual([...mem.bytes.subarray(0x3000, 0x3003)], [1, 2, 3]);
  ccw1(mem, 0x100, STORE_CMD_READ, CCW_FLAG_SLI | CCW_FLAG_SKIP, 8, 0x4000);
  o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.cstat, 0);
  assert.equal(o.count, 5);
  assert.deepEqual([...mem.bytes.subarray(0x4000, 0x4003)], [0, 0, 0], 'skip transfers nothing to storage');
});

test('incorrect length stops command chaining', () => {
  const { mem, dev } = fresh();
  ccw1(mem, 0x100, STORE_CMD_READ, CCW_FLAG_CC, 8, 0x3000);
  ccw1(mem, 0x108, STORE_CMD_WRITE, 0, 1, 0x2000);
  const o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.cstat, CS_INCORRECT_LENGTH);
  assert.deepEqual(dev.written, []);
});

test('unit check ends the program with the device status', () => {
  const { mem, dev } = fresh();
  ccw1(mem, 0x100, STORE_CMD_FAIL, CCW_FLAG_CC | CCW_FLAG_SLI, 0, 0);
  ccw1(mem, 0x108, STORE_CMD_WRITE, 0, 1, 0x2000);
  const o = runChannelProgram(mem, dev, 0x100, F1);
  assert.ok(o.dstat & DS_UNIT_CHECK);
  assert.equal(o.cpa, 0x108);
  assert.deepEqual(dev.written, []);
});

const PROGRAM_CHECKS: [string, (m: ArrayGuestMemory) => number, string][] = [
  ['TIC loop (TIC to itself via a NOP)', (m) => (ccw1(m, 0x100, 0x03, CCW_FLAG_CC | CCW_FLAG_SLI, 0, 0), ccw1(m, 0x108, 0x08, 0, 0, 0x100), 0x100), 'budget'],
  ['TIC to TIC', (m) => (ccw1(m, 0x100, 0x08, 0, 0, 0x200), ccw1(m, 0x200, 0x08, 0, 0, 0x100), 0x100), 'tic-after-tic'],
  ['running off the end of storage', (m) => (ccw1(m, 0xfff8, 0x03, CCW_FLAG_CC | CCW_FLAG_SLI, 0, 0), 0xfff8), 'ccw-fetch'],
  ['channel-program address beyond storage', () => 0x200000, 'ccw-fetch'],
  ['misaligned channel-program address', () => 0x104, 'cpa-misaligned'],
  ['misaligned TIC target', (m) => (ccw1(m, 0x100, 0x08, 0, 0, 0x204), 0x100), 'tic-misaligned'],
  ['TIC with flags', (m) => (ccw1(m, 0x100, 0x08, CCW_FLAG_CC, 0, 0x200), 0x100), 'tic-invalid'],
  ['invalid command code', (m) => (ccw1(m, 0x100, 0x10, 0, 1, 0x2000), 0x100), 'invalid-command'],
  ['31-bit data address with bit 0 set', (m) => (ccw1(m, 0x100, STORE_CMD_WRITE, 0, 1, 0x80002000), 0x100), 'data-address'],
  ['data outside storage', (m) => (ccw1(m, 0x100, STORE_CMD_WRITE, 0, 16, 0xfff8), 0x100), 'data-access'],
  ['indirect data addressing (not offered)', (m) => (ccw1(m, 0x100, STORE_CMD_WRITE, CCW_FLAG_IDA, 1, 0x2000), 0x100), 'ida-unsupported'],
  ['endless command chain longer than the budget', (m) => {
    for (let a = 0x100; a < 0x100 + 8 * 100; a += 8) ccw1(m, a, 0x03, CCW_FLAG_CC | CCW_FLAG_SLI, 0, 0);
    return 0x100;
  }, 'budget'],
];

for (const [name, build, reason] of PROGRAM_CHECKS) {
  test(`program check: ${name}`, () => {
    const { mem, dev } = fresh();
    const cpa = build(mem);
    const o = runChannelProgram(mem, dev, cpa, F1);
    assert.equal(o.programCheck, reason);
    assert.equal(o.cstat, CS_PROGRAM_CHECK);
    assert.ok(o.steps <= F1.budget + 2, 'work is bounded by the budget');
  });
}

test('format-0 CCWs: 24-bit addresses, zero count is a program check', () => {
  const { mem, dev } = fresh();
  ccw0(mem, 0x100, STORE_CMD_WRITE, CCW_FLAG_CC, 2, 0x2000);
  ccw0(mem, 0x108, 0x08, 0, 0, 0x200);
  ccw0(mem, 0x200, STORE_CMD_WRITE, 0, 1, 0x2007);
  const f0 = { ...F1, format1: false };
  let o = runChannelProgram(mem, dev, 0x100, f0);
  assert.equal(o.programCheck, null);
  assert.deepEqual(dev.written, [10, 11, 17]);
  ccw0(mem, 0x300, STORE_CMD_WRITE, 0, 0, 0x2000);
  o = runChannelProgram(mem, dev, 0x300, f0);
  assert.equal(o.programCheck, 'count-zero');
});

test('suspend flag honoured only with ORB suspend control; resume skips it once', () => {
  const { mem, dev } = fresh();
  ccw1(mem, 0x100, STORE_CMD_WRITE, CCW_FLAG_CC, 1, 0x2000);
  ccw1(mem, 0x108, STORE_CMD_WRITE, CCW_FLAG_SUSPEND, 1, 0x2001);
  let o = runChannelProgram(mem, dev, 0x100, F1);
  assert.equal(o.suspendedAt, null);
  dev.written = [];
  o = runChannelProgram(mem, dev, 0x100, { ...F1, suspendCtl: true });
  assert.equal(o.suspendedAt, 0x108);
  assert.deepEqual(dev.written, [10]);
  o = runChannelProgram(mem, dev, 0x108, { ...F1, suspendCtl: true, resuming: true });
  assert.equal(o.suspendedAt, null);
  assert.deepEqual(dev.written, [10, 11]);
});
