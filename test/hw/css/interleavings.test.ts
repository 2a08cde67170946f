/**
 * Seed 003 under many interleavings, with a small seeded random scheduler of
 * our own (the real explorer lives in src/explore; this checks that the
 * components expose every interleaving point and that the shipped design
 * holds in all of them while the naive one is caught).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FC_START } from '../../../src/hw/css/bits.js';
import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { orb } from '../../../src/hw/css/schib.js';
import { StoreDevice, STORE_CMD_WRITE } from '../../../src/hw/css/store-device.js';
import { VFIO_OK } from '../../../src/hw/css/vfio-ccw.js';
import type { VfioCcwPassthrough } from '../../../src/hw/css/vfio-ccw-passthrough.js';
import type { ManualWorkQueue } from '../../../src/hw/css/work-queue.js';
import { ccw1, passthrough } from './helpers.js';
import { rng } from '../../helpers/rng.js';

type Design = 'naive' | 'shipped';

type Script = Generator<void, void, void>;

function build(variant: Design) {
  const mem = new ArrayGuestMemory(0x10000);
  ccw1(mem, 0x1000, STORE_CMD_WRITE, 0, 4, 0x2000);
  mem.write(0x2000, new Uint8Array([1, 2, 3, 4]));
  const dev = new StoreDevice();
  const { pt, oracle } = passthrough(variant, { guestMemory: mem, device: dev });
  return { pt, oracle, dev, o: orb({ cpa: 0x1000 }) };
}

/** The guest: CSCH, wait for its status, SSCH (retrying), wait for START's status. */
function* guestScript(pt: VfioCcwPassthrough, o: ReturnType<typeof orb>, out: { startFc: number }): Script {
  assert.equal(pt.guest.csch(), 0);
  yield;
  while (pt.guest.tsch().cc !== 0) yield;
  yield;
  for (;;) {
    const cc = pt.guest.ssch(o);
    if (cc === 0) break;
    if (cc === 1) pt.guest.tsch();
    yield;
  }
  yield;
  for (;;) {
    const t = pt.guest.tsch();
    if (t.cc === 0) {
      out.startFc = t.irb.scsw.fc;
      return;
    }
    yield;
  }
}

/** User space writing the regions directly (as in the seed's thread), bypassing the guest's checks. */
function* regionScript(pt: VfioCcwPassthrough, o: ReturnType<typeof orb>): Script {
  assert.equal(pt.vfio.asyncRequest('clear').ret, VFIO_OK);
  yield;
  while (pt.vfio.ioRequest(o).ret !== VFIO_OK) yield;
}

/**
 * `anyOrder`: items of one queue may run in any order, as when each posted
 * item becomes its own explorer task (sched.spawn per post).
 */
function run(variant: Design, seed: number, which: 'guest' | 'regions', anyOrder = false) {
  const { pt, oracle, dev, o } = build(variant);
  const random = rng(seed);
  const out = { startFc: -1 };
  const script = which === 'guest' ? guestScript(pt, o, out) : regionScript(pt, o);
  let scriptDone = false;
  const queues = [pt.channel, pt.hostInterrupts, pt.workqueue] as ManualWorkQueue[];
  for (let step = 0; step < 5000; step++) {
    const enabled: (() => void)[] = [];
    if (!scriptDone) enabled.push(() => (scriptDone = script.next().done === true));
    for (const q of queues) if (q.size > 0) enabled.push(() => (anyOrder ? q.runAt(Math.floor(random() * q.size)) : q.runNext()));
    if (enabled.length === 0) break;
    enabled[Math.floor(random() * enabled.length)]!();
  }
  assert.ok(scriptDone, `seed ${seed}: script finished`);
  return { pt, oracle, dev, out };
}

test('shipped survives 400 random schedules driven by the guest, with architectural results', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const { oracle, dev, out } = run('shipped', seed, 'guest', seed % 2 === 0);
    assert.deepEqual(oracle.check(), [], `seed ${seed}`);
    assert.equal(out.startFc, FC_START, `seed ${seed}: the guest's START status answers START`);
    assert.deepEqual(dev.written, [1, 2, 3, 4], `seed ${seed}`);
  }
});

test('shipped survives 400 random schedules driven at the regions, and with work items in any order', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const { pt, oracle, dev } = run('shipped', seed, 'regions', seed % 2 === 0);
    assert.deepEqual(oracle.check(), [], `seed ${seed}`);
    assert.deepEqual(dev.written, [1, 2, 3, 4], `seed ${seed}`);
    assert.equal(pt.vfio.state, 'IDLE');
  }
});

test('naive is caught by some random schedules, and only in the window', () => {
  for (const which of ['guest', 'regions'] as const) {
    let caught = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const { oracle } = run('naive', seed, which);
      const bad = oracle.check();
      if (bad.length > 0) {
        caught++;
        assert.ok(oracle.freedWhileInUse > 0 || oracle.misattributions > 0, bad.join('\n'));
      }
    }
    assert.ok(caught > 0, `${which}: naive was caught`);
    assert.ok(caught < 400, `${which}: naive passes schedules without the window`);
  }
});

/** A guest issuing random SSCH/HSCH/CSCH/TSCH, always with the instruction's architectural cc. */
function* randomGuest(pt: VfioCcwPassthrough, o: ReturnType<typeof orb>, random: () => number): Script {
  for (let i = 0; i < 30; i++) {
    const pick = Math.floor(random() * 4);
    if (pick === 0) pt.guest.ssch(o);
    else if (pick === 1) pt.guest.hsch();
    else if (pick === 2) pt.guest.csch();
    else pt.guest.tsch();
    yield;
  }
}

test('shipped: random guest instruction streams under random schedules keep attribution and architectural ccs', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const { pt, oracle } = build('shipped');
    const random = rng(seed * 7919);
    const script = randomGuest(pt, orb({ cpa: 0x1000 }), random);
    let done = false;
    const queues = [pt.channel, pt.hostInterrupts, pt.workqueue] as ManualWorkQueue[];
    for (let step = 0; step < 5000; step++) {
      const enabled: (() => void)[] = [];
      if (!done) enabled.push(() => (done = script.next().done === true));
      for (const q of queues) if (q.size > 0) enabled.push(() => (seed % 2 === 0 ? q.runAt(Math.floor(random() * q.size)) : q.runNext()));
      if (enabled.length === 0) break;
      enabled[Math.floor(random() * enabled.length)]!();
    }
    assert.deepEqual(oracle.check(), [], `seed ${seed}`);
    assert.equal(pt.backend.refusals, 0, `seed ${seed}: no cc the architecture would not give`);
    // Quiescent at the end: whatever status is pending is the guest's to take, and then it is idle.
    pt.guest.tsch();
    assert.equal(pt.guest.scsw.fc, 0, `seed ${seed}`);
    assert.equal(pt.vfio.state, 'IDLE', `seed ${seed}`);
  }
});
