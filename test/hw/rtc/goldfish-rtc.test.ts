import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoldfishRtc, hostWallClockNs } from '../../../src/hw/rtc/goldfish-rtc.js';
import { irqLine } from '../../../src/hw/irq.js';
import { FakeScheduler, rd, wr, fuzzRegion } from '../misc/helpers.js';

const TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c, IRQ_ENABLED = 0x10,
  CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c;

/** Deterministic mode: the RTC reads the virtual clock. */
function make(start = 0) {
  const sched = new FakeScheduler();
  sched.now = start;
  const irq = { level: false };
  const rtc = new GoldfishRtc(irqLine((l) => (irq.level = l)), sched, () => sched.now);
  return { sched, irq, rtc, mr: rtc.mr };
}

const readTime = (mr: Parameters<typeof rd>[0]) => {
  const lo = rd(mr, TIME_LOW);
  const hi = rd(mr, TIME_HIGH);
  return BigInt(hi) * 2n ** 32n + BigInt(lo);
};

test('goldfish-rtc: region and time registers with the TIME_LOW latch', () => {
  const { sched, mr } = make(0x1_2345_6789);
  assert.equal(mr.name, 'goldfish_rtc');
  assert.equal(mr.size, 0x24);
  assert.equal(rd(mr, TIME_LOW), 0x2345_6789);
  sched.advanceTo(0x2_0000_0000);
  assert.equal(rd(mr, TIME_HIGH), 1, 'high half latched at the TIME_LOW read');
  assert.equal(readTime(mr), 0x2_0000_0000n);
});

test('goldfish-rtc: writing TIME_HIGH/LOW sets the clock, which keeps running', () => {
  const { sched, mr, rtc } = make(1000);
  wr(mr, TIME_HIGH, 0x18ea6498);
  wr(mr, TIME_LOW, 0x98423f68);
  assert.equal(readTime(mr), 0x18ea6498_98423f68n);
  sched.advance(500);
  assert.equal(rtc.now(), 0x18ea6498_98423f68n + 500n);
});

test('goldfish-rtc: alarm fires at its time, raises the irq when enabled, clears on request', () => {
  const { sched, irq, mr } = make(0);
  wr(mr, IRQ_ENABLED, 1);
  assert.equal(rd(mr, IRQ_ENABLED), 1);
  wr(mr, ALARM_HIGH, 0);
  wr(mr, ALARM_LOW, 5000);
  assert.equal(rd(mr, ALARM_STATUS), 1);
  assert.equal(rd(mr, ALARM_LOW), 5000);
  sched.advanceTo(4999);
  assert.equal(irq.level, false);
  sched.advanceTo(5000);
  assert.equal(irq.level, true);
  assert.equal(rd(mr, ALARM_STATUS), 0);
  wr(mr, CLEAR_INTERRUPT, 1);
  assert.equal(irq.level, false);
});

test('goldfish-rtc: alarm in the past fires at once; disabled irq hides it; CLEAR_ALARM disarms', () => {
  const { sched, irq, mr } = make(10_000);
  wr(mr, ALARM_LOW, 100);
  assert.equal(irq.level, false, 'pending but not enabled');
  wr(mr, IRQ_ENABLED, 1);
  assert.equal(irq.level, true);
  wr(mr, CLEAR_INTERRUPT, 0);
  wr(mr, ALARM_LOW, 20_000);
  wr(mr, CLEAR_ALARM, 0);
  assert.equal(rd(mr, ALARM_STATUS), 0);
  sched.advanceTo(50_000);
  assert.equal(irq.level, false);
});

test('goldfish-rtc: real-time mode reads the host wall clock in ns', () => {
  const sched = new FakeScheduler();
  const rtc = new GoldfishRtc(irqLine(() => {}), sched);
  const t = rtc.now();
  const host = hostWallClockNs();
  assert.ok(host - t >= 0n && host - t < 5_000_000_000n);
});

test('goldfish-rtc: far-future and hostile values never throw', () => {
  const { sched, mr, rtc } = make(0);
  wr(mr, ALARM_HIGH, 0xffffffff);
  wr(mr, ALARM_LOW, 0xffffffff);
  assert.equal(rd(mr, ALARM_STATUS), 1);
  sched.advance(1e12);
  wr(mr, TIME_HIGH, 0xffffffff);
  wr(mr, TIME_LOW, 0xffffffff);
  sched.advance(10);
  assert.equal(rtc.now(), 9n, 'wraps at 2^64');
  fuzzRegion(mr, 0x24, 20000, 21);
  rtc.reset();
  assert.equal(rd(mr, ALARM_STATUS), 0);
});
