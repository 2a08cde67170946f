import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AC_RESUME_PEND,
  AC_START_PEND,
  AC_SUSPENDED,
  CCW_FLAG_CC,
  CCW_FLAG_SUSPEND,
  DS_CHANNEL_END,
  DS_DEVICE_END,
  DS_UNIT_CHECK,
  FC_CLEAR,
  FC_HALT,
  FC_START,
  PGM_ADDRESSING,
  PGM_OPERAND,
  PGM_SPECIFICATION,
  SC_ALERT,
  SC_INTERMEDIATE,
  SC_PRIMARY,
  SC_SECONDARY,
  SC_STATUS_PEND,
  type IoInstResult,
} from '../../../src/hw/css/bits.js';
import { ChannelSubsystem } from '../../../src/hw/css/css.js';
import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { decodeIrb, decodeSchib, encodeOrb, encodeSchib, ERW_CONCURRENT_SENSE, orb, PMCW_CHARS_S, schidWord, type Orb } from '../../../src/hw/css/schib.js';
import { StoreDevice, STORE_CMD_FAIL, STORE_CMD_WRITE } from '../../../src/hw/css/store-device.js';
import { EmulatedBackend, Subchannel } from '../../../src/hw/css/subchannel.js';
import { ManualWorkQueue } from '../../../src/hw/css/work-queue.js';
import { ccw1 } from './helpers.js';

const ORB_AT = 0x500;
const SCHIB_AT = 0x600;
const IRB_AT = 0x700;
const PROG = 0x1000;
const SID = schidWord(0, 5);

function rig() {
  const mem = new ArrayGuestMemory(0x10000);
  const dev = new StoreDevice();
  const q = new ManualWorkQueue('channel');
  const css = new ChannelSubsystem(mem);
  const sch = new Subchannel(0, 5, 0x0a00, new EmulatedBackend(dev, mem, q));
  sch.pmcw.enabled = true;
  css.attach(sch);
  ccw1(mem, PROG, STORE_CMD_WRITE, CCW_FLAG_CC, 2, 0x2000);
  ccw1(mem, PROG + 8, STORE_CMD_WRITE, CCW_FLAG_SUSPEND, 2, 0x2002);
  mem.write(0x2000, new Uint8Array([1, 2, 3, 4]));
  const ssch = (o: Partial<Orb> = {}) => {
    mem.write(ORB_AT, encodeOrb(orb({ cpa: PROG, intParm: 0x1234_5678, ...o })));
    return css.ssch(SID, ORB_AT);
  };
  const tsch = () => css.tsch(SID, IRB_AT);
  const irb = () => decodeIrb(mem.bytes.slice(IRB_AT, IRB_AT + 64));
  const msch = (mut: (s: ReturnType<typeof decodeSchib>) => void = () => {}) => {
    css.stsch(SID, SCHIB_AT);
    const d = decodeSchib(mem.bytes.slice(SCHIB_AT, SCHIB_AT + 52));
    mut(d);
    mem.write(SCHIB_AT, encodeSchib(d.pmcw, d.scsw, d.mda));
    return css.msch(SID, SCHIB_AT);
  };
  return { mem, dev, q, css, sch, ssch, tsch, irb, msch };
}

type Rig = ReturnType<typeof rig>;

const cc = (n: 0 | 1 | 2 | 3): IoInstResult => ({ kind: 'cc', cc: n });

function ok(r: IoInstResult): void {
  assert.deepEqual(r, cc(0));
}

/** Subchannel states, each built through instructions and channel work. */
const STATES: Record<string, (r: Rig) => void> = {
  'not valid': (r) => {
    r.sch.pmcw.dnv = false;
  },
  disabled: (r) => ok(r.msch((d) => (d.pmcw.enabled = false))),
  idle: () => {},
  'start pending': (r) => ok(r.ssch()),
  'start pending, suspend control': (r) => ok(r.ssch({ suspend: true })),
  'halt pending': (r) => (ok(r.ssch()), ok(r.css.hsch(SID))),
  'clear pending': (r) => (ok(r.ssch()), ok(r.css.csch(SID))),
  'status pending (primary)': (r) => (ok(r.ssch()), r.q.drain()),
  'status pending alone (clear done)': (r) => (ok(r.css.csch(SID)), r.q.drain()),
  'intermediate status (suspended)': (r) => (ok(r.ssch({ suspend: true })), r.q.drain()),
  'suspended, interruption suppressed': (r) => (ok(r.ssch({ suspend: true, suppressSuspendedInt: true })), r.q.drain()),
};

type Inst = 'ssch' | 'hsch' | 'csch' | 'rsch' | 'tsch' | 'msch' | 'stsch';
const INSTS: Record<Inst, (r: Rig) => IoInstResult> = {
  ssch: (r) => r.ssch(),
  hsch: (r) => r.css.hsch(SID),
  csch: (r) => r.css.csch(SID),
  rsch: (r) => r.css.rsch(SID),
  tsch: (r) => r.tsch(),
  msch: (r) => r.msch(),
  stsch: (r) => r.css.stsch(SID, SCHIB_AT),
};

/** Expected condition codes (architecture: see docs/css.md). */
const CC_TABLE: Record<string, Record<Inst, 0 | 1 | 2 | 3>> = {
  'not valid': { ssch: 3, hsch: 3, csch: 3, rsch: 3, tsch: 3, msch: 3, stsch: 0 },
  disabled: { ssch: 3, hsch: 3, csch: 3, rsch: 3, tsch: 1, msch: 0, stsch: 0 },
  idle: { ssch: 0, hsch: 0, csch: 0, rsch: 2, tsch: 1, msch: 0, stsch: 0 },
  'start pending': { ssch: 2, hsch: 0, csch: 0, rsch: 2, tsch: 1, msch: 2, stsch: 0 },
  'start pending, suspend control': { ssch: 2, hsch: 0, csch: 0, rsch: 0, tsch: 1, msch: 2, stsch: 0 },
  'halt pending': { ssch: 2, hsch: 2, csch: 0, rsch: 2, tsch: 1, msch: 2, stsch: 0 },
  'clear pending': { ssch: 2, hsch: 2, csch: 0, rsch: 2, tsch: 1, msch: 2, stsch: 0 },
  'status pending (primary)': { ssch: 1, hsch: 1, csch: 0, rsch: 1, tsch: 0, msch: 1, stsch: 0 },
  'status pending alone (clear done)': { ssch: 1, hsch: 1, csch: 0, rsch: 1, tsch: 0, msch: 1, stsch: 0 },
  'intermediate status (suspended)': { ssch: 1, hsch: 0, csch: 0, rsch: 1, tsch: 0, msch: 1, stsch: 0 },
  'suspended, interruption suppressed': { ssch: 2, hsch: 0, csch: 0, rsch: 0, tsch: 1, msch: 2, stsch: 0 },
};

for (const [state, build] of Object.entries(STATES)) {
  for (const inst of Object.keys(INSTS) as Inst[]) {
    test(`cc: ${inst.toUpperCase()} in state "${state}" -> cc ${CC_TABLE[state]![inst]}`, () => {
      const r = rig();
      build(r);
      assert.deepEqual(INSTS[inst](r), cc(CC_TABLE[state]![inst]));
      // Whatever happened, the channel finishes its work without throwing.
      r.q.drain();
    });
  }
}

test('SSCH cc 0 sets START and start pending; TSCH returns the IRB and clears FC/AC/SC', () => {
  const r = rig();
  ok(r.ssch());
  assert.equal(r.sch.scsw.fc, FC_START);
  assert.equal(r.sch.scsw.ac, AC_START_PEND);
  r.q.drain();
  assert.deepEqual(r.css.tpi(), { ssid: 0, schno: 5, intParm: 0x1234_5678, isc: 0 });
  ok(r.tsch());
  const irb = r.irb();
  assert.equal(irb.scsw.fc, FC_START);
  assert.equal(irb.scsw.ac, 0);
  assert.equal(irb.scsw.sc, SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND);
  assert.equal(irb.scsw.ccwFormat1, true);
  assert.equal(irb.scsw.cpa, PROG + 16);
  assert.equal(irb.scsw.dstat, DS_CHANNEL_END | DS_DEVICE_END);
  assert.equal(irb.scsw.cstat, 0);
  assert.equal(irb.scsw.count, 0);
  assert.deepEqual(r.dev.written, [1, 2, 3, 4]);
  assert.deepEqual(r.tsch(), cc(1));
  assert.equal(r.irb().scsw.fc, 0, 'cc 1 stores the current (idle) SCSW');
  r.css.stsch(SID, SCHIB_AT);
  const d = decodeSchib(r.mem.bytes.slice(SCHIB_AT, SCHIB_AT + 52));
  assert.deepEqual([d.scsw.fc, d.scsw.ac, d.scsw.sc], [0, 0, 0]);
  assert.equal(d.pmcw.devno, 0x0a00);
  assert.equal(d.pmcw.dnv, true);
  assert.equal(r.css.tpi(), null);
});

test('unit check: alert status, and concurrent sense fills the ECW when PMCW S is set', () => {
  const r = rig();
  ok(r.msch((d) => (d.pmcw.chars = PMCW_CHARS_S)));
  ccw1(r.mem, 0x1800, STORE_CMD_FAIL, 0x20, 0, 0);
  ok(r.ssch({ cpa: 0x1800 }));
  r.q.drain();
  ok(r.tsch());
  const irb = r.irb();
  assert.equal(irb.scsw.sc, SC_ALERT | SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND);
  assert.ok(irb.scsw.dstat & DS_UNIT_CHECK);
  assert.equal(irb.erw & ERW_CONCURRENT_SENSE, ERW_CONCURRENT_SENSE);
  assert.equal(irb.ecw[0], 0x80);
});

test('CSCH replaces a pending start: the program never runs, status pending alone with FC clear', () => {
  const r = rig();
  ok(r.ssch());
  ok(r.css.csch(SID));
  assert.equal(r.sch.scsw.fc, FC_CLEAR);
  r.q.drain();
  assert.deepEqual(r.dev.written, []);
  ok(r.tsch());
  const irb = r.irb();
  assert.equal(irb.scsw.fc, FC_CLEAR);
  assert.equal(irb.scsw.sc, SC_STATUS_PEND);
  ok(r.ssch());
});

test('CSCH on status pending withdraws the status and the interruption', () => {
  const r = rig();
  ok(r.ssch());
  r.q.drain();
  ok(r.css.csch(SID));
  assert.equal(r.css.tpi(), null);
  r.q.drain();
  assert.notEqual(r.css.tpi(), null);
});

test('HSCH terminates a pending start: primary status with FC start+halt', () => {
  const r = rig();
  ok(r.ssch());
  ok(r.css.hsch(SID));
  assert.equal(r.sch.scsw.fc, FC_START | FC_HALT);
  r.q.drain();
  ok(r.tsch());
  const irb = r.irb();
  assert.equal(irb.scsw.fc, FC_START | FC_HALT);
  assert.equal(irb.scsw.sc, SC_PRIMARY | SC_STATUS_PEND);
  assert.deepEqual(r.dev.written, []);
});

test('suspend, intermediate interruption, RSCH resumes to completion; HSCH withdraws intermediate status', () => {
  const r = rig();
  ok(r.ssch({ suspend: true }));
  r.q.drain();
  assert.equal(r.sch.scsw.ac, AC_SUSPENDED);
  assert.equal(r.sch.scsw.sc, SC_INTERMEDIATE | SC_STATUS_PEND);
  assert.deepEqual(r.dev.written, [1, 2]);
  ok(r.tsch());
  assert.equal(r.irb().scsw.cpa, PROG + 8);
  assert.equal(r.sch.scsw.fc, FC_START, 'intermediate status leaves the start function');
  ok(r.css.rsch(SID));
  assert.ok(r.sch.scsw.ac & AC_RESUME_PEND);
  r.q.drain();
  assert.deepEqual(r.dev.written, [1, 2, 3, 4]);
  ok(r.tsch());
  assert.equal(r.irb().scsw.sc, SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND);

  const h = rig();
  ok(h.ssch({ suspend: true }));
  h.q.drain();
  ok(h.css.hsch(SID));
  assert.equal(h.sch.scsw.sc, 0, 'intermediate status withdrawn');
  h.q.drain();
  ok(h.tsch());
  assert.equal(h.irb().scsw.fc, FC_START | FC_HALT);
});

test('MSCH sets interruption parameter, ISC and enable; TPI reports them', () => {
  const r = rig();
  ok(r.msch((d) => ((d.pmcw.isc = 3), (d.pmcw.intParm = 0xfeed))));
  assert.equal(r.sch.pmcw.isc, 3);
  ok(r.css.csch(SID));
  r.q.drain();
  assert.deepEqual(r.css.tpi(), { ssid: 0, schno: 5, intParm: 0xfeed, isc: 3 });
});

test('bad operands: malformed subsystem id is an operand exception for every instruction', () => {
  const r = rig();
  for (const bad of [0x0000_0005, 0x0100_0005, 0x0009_0005, -1, 2 ** 32]) {
    for (const res of [r.css.ssch(bad, ORB_AT), r.css.hsch(bad), r.css.csch(bad), r.css.rsch(bad), r.css.tsch(bad, IRB_AT), r.css.msch(bad, SCHIB_AT), r.css.stsch(bad, SCHIB_AT)]) {
      assert.deepEqual(res, { kind: 'exception', exception: 'operand', code: PGM_OPERAND });
    }
  }
});

test('bad operands: unknown subchannel gives cc 3 for every instruction', () => {
  const r = rig();
  r.mem.write(ORB_AT, encodeOrb(orb({ cpa: PROG })));
  ok(r.css.stsch(SID, SCHIB_AT));
  const other = schidWord(1, 5);
  for (const res of [r.css.ssch(other, ORB_AT), r.css.hsch(other), r.css.csch(other), r.css.rsch(other), r.css.tsch(other, IRB_AT), r.css.msch(other, SCHIB_AT), r.css.stsch(other, SCHIB_AT)]) {
    assert.deepEqual(res, cc(3));
  }
});

test('bad operands: misaligned storage operands are specification exceptions, absent storage addressing', () => {
  const r = rig();
  const spec = { kind: 'exception', exception: 'specification', code: PGM_SPECIFICATION };
  const addr = { kind: 'exception', exception: 'addressing', code: PGM_ADDRESSING };
  assert.deepEqual(r.css.ssch(SID, ORB_AT + 2), spec);
  assert.deepEqual(r.css.tsch(SID, IRB_AT + 1), spec);
  assert.deepEqual(r.css.msch(SID, SCHIB_AT + 3), spec);
  assert.deepEqual(r.css.stsch(SID, SCHIB_AT + 2), spec);
  assert.deepEqual(r.css.ssch(SID, 0x100000), addr);
  assert.deepEqual(r.css.msch(SID, 0xfffc), addr);
  assert.deepEqual(r.css.stsch(SID, 0xfff0), addr);
  // A TSCH whose IRB cannot be stored leaves the status pending.
  ok(r.css.csch(SID));
  r.q.drain();
  assert.deepEqual(r.css.tsch(SID, 0xffe0), addr);
  assert.equal(r.sch.statusPending, true);
  ok(r.tsch());
});

test('bad operands: reserved ORB and SCHIB bits are operand exceptions and change nothing', () => {
  const r = rig();
  const operand = { kind: 'exception', exception: 'operand', code: PGM_OPERAND };
  r.mem.write(ORB_AT, encodeOrb(orb({ cpa: PROG })));
  r.mem.setU32(ORB_AT + 4, r.mem.getU32(ORB_AT + 4) | 0x4); // word 1 bit 29
  assert.deepEqual(r.css.ssch(SID, ORB_AT), operand);
  r.mem.write(ORB_AT, encodeOrb(orb({ cpa: 0x80001000 })));
  assert.deepEqual(r.css.ssch(SID, ORB_AT), operand);
  r.mem.write(ORB_AT, encodeOrb(orb({ cpa: PROG, transportMode: true })));
  assert.deepEqual(r.css.ssch(SID, ORB_AT), operand);
  assert.equal(r.sch.scsw.fc, 0);
  ok(r.css.stsch(SID, SCHIB_AT));
  r.mem.setU32(SCHIB_AT + 4, r.mem.getU32(SCHIB_AT + 4) | 0x8000_0000);
  assert.deepEqual(r.css.msch(SID, SCHIB_AT), operand);
  ok(r.css.stsch(SID, SCHIB_AT));
  r.mem.setU32(SCHIB_AT + 24, 0x100);
  assert.deepEqual(r.css.msch(SID, SCHIB_AT), operand);
  assert.equal(r.sch.pmcw.enabled, true);
});

test('a TIC loop started by SSCH ends with a program check in the SCSW', () => {
  const r = rig();
  ccw1(r.mem, 0x3000, 0x03, CCW_FLAG_CC | 0x20, 0, 0);
  ccw1(r.mem, 0x3008, 0x08, 0, 0, 0x3000);
  ok(r.ssch({ cpa: 0x3000 }));
  r.q.drain();
  ok(r.tsch());
  const irb = r.irb();
  assert.equal(irb.scsw.cstat, 0x20);
  assert.equal(irb.scsw.sc, SC_ALERT | SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND);
});
