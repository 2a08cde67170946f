import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CCW_FLAG_CC, CS_PROGRAM_CHECK, FC_CLEAR, FC_HALT, FC_START, SC_ALERT, SC_PRIMARY, SC_SECONDARY, SC_STATUS_PEND } from '../../../src/hw/css/bits.js';
import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { orb } from '../../../src/hw/css/schib.js';
import { StoreDevice, STORE_CMD_WRITE } from '../../../src/hw/css/store-device.js';
import {
  EAGAIN,
  EBUSY,
  EIO,
  VFIO_CCW_EVENTS,
  VFIO_CCW_JUMPTABLE,
  VFIO_CCW_STATES,
  VFIO_OK,
  type VfioCcwEvent,
  type VfioCcwState,
  type VfioEventArg,
} from '../../../src/hw/css/vfio-ccw.js';
import type { SingleIrbVfioCcw } from '../../../src/explore/policies/vfio-ccw-single-irb.js';
import type { ManualWorkQueue } from '../../../src/hw/css/work-queue.js';
import { ccw1, passthrough } from './helpers.js';

type Design = 'naive' | 'shipped';

const PROG = 0x1000;
const DATA = 0x2000;

function setup(variant: Design) {
  const mem = new ArrayGuestMemory(0x10000);
  const dev = new StoreDevice();
  ccw1(mem, PROG, STORE_CMD_WRITE, 0, 4, DATA);
  mem.write(DATA, new Uint8Array([1, 2, 3, 4]));
  const { pt, oracle } = passthrough(variant, { guestMemory: mem, device: dev });
  return {
    mem,
    dev,
    pt,
    oracle,
    channel: pt.channel as ManualWorkQueue,
    irqs: pt.hostInterrupts as ManualWorkQueue,
    wq: pt.workqueue as ManualWorkQueue,
    o: orb({ cpa: PROG, intParm: 0xabc }),
  };
}

/** The seed's order, driven through the guest's instructions. */
function seedThroughGuest(variant: Design) {
  const s = setup(variant);
  const { pt, channel, irqs, wq } = s;
  assert.equal(pt.guest.csch(), 0); // CPU 1: CLEAR SUBCHANNEL
  assert.ok(channel.runFirst('host:clear')); // the host channel performs the clear
  assert.ok(irqs.runNext()); // fsm_irq: host TSCH, io_todo queued
  const tsch1 = pt.guest.tsch().cc; // guest looks for the clear's status
  const ssch = pt.guest.ssch(s.o); // CPU 2: START SUBCHANNEL
  wq.runNext(); // io_todo runs late
  channel.drain();
  irqs.drain();
  wq.drain();
  return { ...s, tsch1, ssch };
}

test('seed 003 through the guest, naive: CLEAR IRB taken for START, START program freed in use', () => {
  const r = seedThroughGuest('naive');
  assert.equal(r.tsch1, 0, 'naive completes the clear in the guest at once');
  assert.equal(r.ssch, 0, 'and accepts the new START');
  assert.ok(r.oracle.misattributions >= 1);
  assert.equal(r.oracle.freedWhileInUse, 1);
  assert.ok(r.pt.arena.useAfterFree.length >= 1, 'host channel fetched the freed program');
  const first = r.pt.guestInterrupts[0]!;
  assert.equal(first.guestFunction, 'start');
  assert.equal(r.oracle.truthOf(first.report.irb)?.fn, 'clear');
  assert.ok(r.oracle.check().some((v) => /guest interrupt #1 \(FC=clear\) taken as start completion but answers host clear#\d+/.test(v)), r.oracle.check().join('\n'));
  assert.ok(r.oracle.check().length > 0);
  assert.deepEqual(r.dev.written, [], 'START never reached the device');
});

test('seed 003 through the guest, shipped: architectural cc 2 while the clear is in progress, no misattribution', () => {
  const r = seedThroughGuest('shipped');
  assert.equal(r.tsch1, 1, 'the clear has not completed in the guest yet');
  assert.equal(r.ssch, 2, 'SSCH while clear function is in progress gives cc 2');
  assert.deepEqual(r.oracle.check(), []);
  // The clear's status reached the guest as the clear's completion.
  const t = r.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.fc, FC_CLEAR);
  // Now the start goes through and completes normally.
  assert.equal(r.pt.guest.ssch(r.o), 0);
  r.channel.drain();
  r.irqs.drain();
  r.wq.drain();
  const t2 = r.pt.guest.tsch();
  assert.equal(t2.cc, 0);
  assert.equal(t2.irb.scsw.fc, FC_START);
  assert.equal(t2.irb.scsw.sc, SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND);
  assert.equal(t2.irb.scsw.cpa, PROG + 8, 'CCW address translated back to the guest program');
  assert.deepEqual(r.dev.written, [1, 2, 3, 4]);
  assert.deepEqual(
    r.pt.guestInterrupts.map((g) => [g.guestFunction, r.oracle.truthOf(g.report.irb)?.fn]),
    [
      ['clear', 'clear'],
      ['start', 'start'],
    ],
  );
  assert.deepEqual(r.oracle.check(), []);
});

/** The seed's order at the vfio interface itself (user space writes the regions directly, as in the thread). */
function seedAtRegions(variant: Design) {
  const s = setup(variant);
  const { pt, channel, irqs, wq } = s;
  assert.equal(pt.vfio.asyncRequest('clear').ret, VFIO_OK);
  channel.runFirst('host:clear');
  irqs.runNext();
  assert.equal(pt.vfio.state, 'IDLE');
  const start = pt.vfio.ioRequest(s.o);
  assert.equal(start.ret, VFIO_OK, 'host accepted START: its clear status was already consumed');
  assert.equal(pt.vfio.state, 'CP_PENDING');
  wq.runNext(); // io_todo with CLEAR's IRB
  const afterTodo = { state: pt.vfio.state, cpLive: pt.vfio.cp !== null && !pt.vfio.cp.freed };
  channel.drain();
  irqs.drain();
  wq.drain();
  return { ...s, afterTodo };
}

test('seed 003 at the regions, naive: START freed by CLEAR IRB, state back to IDLE while START runs', () => {
  const r = seedAtRegions('naive');
  assert.deepEqual(r.afterTodo, { state: 'IDLE', cpLive: false });
  assert.equal(r.oracle.freedWhileInUse, 1);
  assert.ok(r.oracle.misattributions >= 1);
  assert.ok(r.oracle.violations.some((v) => /^cp gen \d+ freed while host start #\d+ still uses it$/.test(v)), r.oracle.violations.join('\n'));
  assert.ok(r.pt.arena.useAfterFree.length >= 1);
});

test('seed 003 at the regions, shipped: CLEAR IRB consumed without touching START, START completes', () => {
  const r = seedAtRegions('shipped');
  assert.deepEqual(r.afterTodo, { state: 'CP_PENDING', cpLive: true });
  assert.deepEqual(r.oracle.check(), []);
  assert.equal(r.pt.vfio.state, 'IDLE');
  assert.equal(r.pt.vfio.cp, null);
  assert.deepEqual(r.dev.written, [1, 2, 3, 4]);
  assert.deepEqual(
    r.pt.vfio.reports.map((x) => x.attribution.fn),
    ['clear', 'start'],
  );
});

test('both variants agree when io_todo runs before the next START (no window)', () => {
  for (const variant of ['naive', 'shipped'] as const) {
    const s = setup(variant);
    assert.equal(s.pt.guest.csch(), 0);
    s.channel.drain();
    s.irqs.drain();
    s.wq.drain();
    assert.equal(s.pt.guest.tsch().cc, 0);
    assert.equal(s.pt.guest.ssch(s.o), 0);
    s.channel.drain();
    s.irqs.drain();
    s.wq.drain();
    const t = s.pt.guest.tsch();
    assert.equal(t.cc, 0, variant);
    assert.equal(t.irb.scsw.fc, FC_START);
    assert.deepEqual(s.oracle.check(), [], variant);
    assert.deepEqual(s.dev.written, [1, 2, 3, 4]);
  }
});

test('shipped: a start IRB that arrives after a clear superseded it is consumed as stale', () => {
  const s = setup('shipped');
  assert.equal(s.pt.vfio.ioRequest(s.o).ret, VFIO_OK);
  s.channel.runFirst('host:start'); // START completes on the host: status pending
  // user space clears before the interruption is handled: host CSCH replaces the pending status
  assert.equal(s.pt.vfio.asyncRequest('clear').ret, VFIO_OK);
  s.channel.drain();
  s.irqs.drain();
  s.wq.drain();
  assert.deepEqual(s.oracle.check(), []);
  assert.equal(s.pt.vfio.state, 'IDLE');
  assert.equal(s.pt.vfio.cp, null);
});

test('passthrough: a TIC loop in the guest program ends with a program check, bounded', () => {
  const s = setup('shipped');
  ccw1(s.mem, 0x3000, STORE_CMD_WRITE, CCW_FLAG_CC, 1, DATA);
  ccw1(s.mem, 0x3008, 0x08, 0, 0, 0x3000);
  assert.equal(s.pt.guest.ssch(orb({ cpa: 0x3000 })), 0);
  s.channel.drain();
  s.irqs.drain();
  s.wq.drain();
  const t = s.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.cstat & CS_PROGRAM_CHECK, CS_PROGRAM_CHECK);
  assert.ok(t.irb.scsw.sc & SC_ALERT);
  assert.deepEqual(s.oracle.check(), []);
});

test('passthrough: a program running off guest storage is a program check without reaching the host', () => {
  const s = setup('shipped');
  ccw1(s.mem, 0xfff8, STORE_CMD_WRITE, CCW_FLAG_CC, 1, DATA);
  assert.equal(s.pt.guest.ssch(orb({ cpa: 0xfff8 })), 0);
  assert.equal(s.channel.size, 0);
  const t = s.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.cstat, CS_PROGRAM_CHECK);
});

// ---- the FSM table: every state x event ----

type Fixture = ReturnType<typeof setup>;

/** Bring a fresh stack to `state` through its real transitions. */
function reach(state: VfioCcwState, variant: Design = 'shipped'): Fixture {
  const s = setup(variant);
  const v = s.pt.vfio;
  switch (state) {
    case 'NOT_OPER':
      v.notOper();
      break;
    case 'STANDBY':
      v.close();
      break;
    case 'IDLE':
      break;
    case 'CP_PROCESSING':
      v.ioRequestBegin(s.o);
      break;
    case 'CP_PENDING':
      v.ioRequest(s.o);
      break;
  }
  assert.equal(v.state, state);
  return s;
}

function argFor(ev: VfioCcwEvent, s: Fixture): VfioEventArg {
  switch (ev) {
    case 'IO_REQ':
      return { orb: s.o };
    case 'ASYNC_REQ':
      return { cmd: 'clear' };
    case 'INTERRUPT':
      // Let the host finish what it was doing so the TSCH finds status when there is any.
      s.channel.drain();
      return { tsch: s.pt.host.tsch() };
    default:
      return undefined;
  }
}

const EXPECTED: Record<VfioCcwState, Record<VfioCcwEvent, [string, VfioCcwState, number]>> = {
  NOT_OPER: {
    NOT_OPER: ['nop', 'NOT_OPER', VFIO_OK],
    IO_REQ: ['io_error', 'NOT_OPER', EIO],
    INTERRUPT: ['disabled_irq', 'NOT_OPER', VFIO_OK],
    ASYNC_REQ: ['async_error', 'NOT_OPER', EIO],
    OPEN: ['nop', 'NOT_OPER', VFIO_OK],
    CLOSE: ['nop', 'NOT_OPER', VFIO_OK],
  },
  STANDBY: {
    NOT_OPER: ['notoper', 'NOT_OPER', VFIO_OK],
    IO_REQ: ['io_error', 'STANDBY', EIO],
    INTERRUPT: ['disabled_irq', 'STANDBY', VFIO_OK],
    ASYNC_REQ: ['async_error', 'STANDBY', EIO],
    OPEN: ['open', 'IDLE', VFIO_OK],
    CLOSE: ['notoper', 'NOT_OPER', VFIO_OK],
  },
  IDLE: {
    NOT_OPER: ['notoper', 'NOT_OPER', VFIO_OK],
    IO_REQ: ['io_request', 'CP_PENDING', VFIO_OK],
    INTERRUPT: ['irq', 'IDLE', VFIO_OK],
    ASYNC_REQ: ['async_request', 'IDLE', VFIO_OK],
    OPEN: ['notoper', 'NOT_OPER', VFIO_OK],
    CLOSE: ['close', 'STANDBY', VFIO_OK],
  },
  CP_PROCESSING: {
    NOT_OPER: ['notoper', 'NOT_OPER', VFIO_OK],
    IO_REQ: ['io_retry', 'CP_PROCESSING', EAGAIN],
    INTERRUPT: ['irq', 'CP_PROCESSING', VFIO_OK],
    ASYNC_REQ: ['async_retry', 'CP_PROCESSING', EAGAIN],
    OPEN: ['notoper', 'NOT_OPER', VFIO_OK],
    CLOSE: ['close', 'STANDBY', VFIO_OK],
  },
  CP_PENDING: {
    NOT_OPER: ['notoper', 'NOT_OPER', VFIO_OK],
    IO_REQ: ['io_busy', 'CP_PENDING', EBUSY],
    INTERRUPT: ['irq', 'CP_PENDING', VFIO_OK],
    ASYNC_REQ: ['async_request', 'CP_PENDING', VFIO_OK],
    OPEN: ['notoper', 'NOT_OPER', VFIO_OK],
    CLOSE: ['close', 'STANDBY', VFIO_OK],
  },
};

test('FSM: the jump table covers every state x event pair', () => {
  for (const st of VFIO_CCW_STATES) for (const ev of VFIO_CCW_EVENTS) assert.ok(VFIO_CCW_JUMPTABLE[st][ev], `${st} x ${ev}`);
});

for (const variant of ['naive', 'shipped'] as const) {
  for (const st of VFIO_CCW_STATES) {
    for (const ev of VFIO_CCW_EVENTS) {
      test(`FSM ${variant}: ${st} x ${ev}`, () => {
        const s = reach(st, variant);
        const r = s.pt.vfio.event(ev, argFor(ev, s));
        const [action, to, ret] = EXPECTED[st][ev];
        assert.deepEqual([r.action, r.to, r.ret], [action, to, ret]);
        assert.equal(r.from, st);
        // Whatever the pair, the stack stays consistent: draining all work breaks no invariant.
        s.channel.drain();
        s.irqs.drain();
        s.wq.drain();
        assert.deepEqual(s.oracle.check(), []);
      });
    }
  }
}

test('FSM: CP_PROCESSING then issue reaches CP_PENDING; a concurrent request meanwhile is told to retry', () => {
  const s = reach('CP_PROCESSING');
  assert.equal(s.pt.vfio.ioRequest(s.o).ret, EAGAIN);
  const r = s.pt.vfio.ioRequestIssue();
  assert.equal(r.ret, VFIO_OK);
  assert.equal(s.pt.vfio.state, 'CP_PENDING');
  s.channel.drain();
  s.irqs.drain();
  s.wq.drain();
  assert.equal(s.pt.vfio.state, 'IDLE');
  assert.deepEqual(s.dev.written, [1, 2, 3, 4]);
});

test('FSM: an interrupt in CP_PENDING queues io_todo once; only io_todo returns to IDLE', () => {
  const s = reach('CP_PENDING');
  s.channel.drain();
  assert.equal(s.irqs.size, 1);
  s.irqs.runNext();
  assert.equal(s.pt.vfio.state, 'CP_PENDING');
  assert.equal(s.pt.vfio.ioWorkPending, true);
  assert.equal(s.wq.size, 1);
  s.wq.runNext();
  assert.equal(s.pt.vfio.state, 'IDLE');
});

test('naive: two IRBs before io_todo runs lose the first (single IRB slot)', () => {
  const s = setup('naive');
  s.pt.vfio.asyncRequest('clear');
  s.channel.drain();
  s.irqs.drain();
  s.pt.vfio.asyncRequest('clear');
  s.channel.drain();
  s.irqs.drain();
  assert.equal(s.wq.size, 1);
  s.wq.drain();
  assert.equal((s.pt.vfio as SingleIrbVfioCcw).lostIrbs, 1);
});

test('shipped: guest HSCH after the host finished the start is cc 0; the start status arrives with halt indicated', () => {
  const s = setup('shipped');
  assert.equal(s.pt.guest.ssch(s.o), 0);
  s.channel.drain(); // host start done, its status not yet reflected to the guest
  assert.equal(s.pt.guest.hsch(), 0, 'guest sees a start-active subchannel without status: cc 0');
  s.irqs.drain();
  s.wq.drain();
  const t = s.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.fc, FC_START | FC_HALT);
  assert.ok(t.irb.scsw.sc & SC_PRIMARY);
  assert.deepEqual(s.oracle.check(), []);
  assert.equal(s.pt.guest.ssch(s.o), 0, 'subchannel usable again');
});

test('shipped: guest HSCH while the host start is still pending halts it; the program is freed by the halt IRB', () => {
  const s = setup('shipped');
  assert.equal(s.pt.guest.ssch(s.o), 0);
  assert.equal(s.pt.guest.hsch(), 0);
  s.channel.drain();
  s.irqs.drain();
  s.wq.drain();
  const t = s.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.fc, FC_START | FC_HALT);
  assert.equal(s.pt.vfio.cp, null);
  assert.equal(s.pt.vfio.state, 'IDLE');
  assert.deepEqual(s.dev.written, []);
  assert.deepEqual(s.oracle.check(), []);
});

test('passthrough: chains linked by TICs are copied faithfully and the CCW address maps back', () => {
  const s = setup('shipped');
  // 0x3000: W(1) -CC-> TIC 0x3100 ; 0x3100: W(1) -CC-> 0x3108 W(1)
  s.mem.write(0x2100, new Uint8Array([7, 8, 9]));
  ccw1(s.mem, 0x3000, STORE_CMD_WRITE, CCW_FLAG_CC, 1, 0x2100);
  ccw1(s.mem, 0x3008, 0x08, 0, 0, 0x3100);
  ccw1(s.mem, 0x3100, STORE_CMD_WRITE, CCW_FLAG_CC, 1, 0x2101);
  ccw1(s.mem, 0x3108, STORE_CMD_WRITE, 0, 1, 0x2102);
  assert.equal(s.pt.guest.ssch(orb({ cpa: 0x3000 })), 0);
  s.channel.drain();
  s.irqs.drain();
  s.wq.drain();
  const t = s.pt.guest.tsch();
  assert.equal(t.cc, 0);
  assert.equal(t.irb.scsw.cstat, 0);
  assert.equal(t.irb.scsw.cpa, 0x3110, 'CCW address of the guest program');
  assert.deepEqual(s.dev.written, [7, 8, 9]);
});
