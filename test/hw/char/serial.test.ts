import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serial } from '../../../src/hw/char/serial.js';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import { irqLine } from '../../../src/hw/irq.js';
import { rd, wr, fuzzRegion } from '../misc/helpers.js';

const RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function make() {
  const be = new PipeBackend();
  const irq = { level: false, edges: 0 };
  const s = new Serial(irqLine((l) => { irq.level = l; irq.edges++; }), be);
  return { s, be, irq, mr: s.mr };
}

test('serial: region is 8 bytes named "serial"; QEMU reset values', () => {
  const { mr } = make();
  assert.equal(mr.name, 'serial');
  assert.equal(mr.size, 8);
  assert.equal(rd(mr, IIR, 1), 0x01);
  assert.equal(rd(mr, LSR, 1), 0x60);
  assert.equal(rd(mr, MCR, 1), 0x08);
  assert.equal(rd(mr, MSR, 1), 0xb0);
  assert.equal(rd(mr, LCR, 1), 0);
  assert.equal(rd(mr, IER, 1), 0);
});

test('serial: THR writes reach the backend; LSR stays THRE|TEMT', () => {
  const { mr, be } = make();
  for (const c of 'hello\r\n') wr(mr, 0, c.charCodeAt(0), 1);
  assert.equal(be.outputText(), 'hello\r\n');
  assert.equal(rd(mr, LSR, 1) & 0x60, 0x60);
});

test('serial: DLAB exposes the divisor latches without disturbing IER/THR', () => {
  const { s, mr, be } = make();
  wr(mr, IER, 0x05, 1);
  wr(mr, LCR, 0x83, 1);
  wr(mr, 0, 0x01, 1);
  wr(mr, 1, 0x02, 1);
  assert.equal(rd(mr, 0, 1), 0x01);
  assert.equal(rd(mr, 1, 1), 0x02);
  assert.equal(s.divisor, 0x0201);
  assert.equal(be.output().length, 0);
  wr(mr, LCR, 0x03, 1);
  assert.equal(rd(mr, IER, 1), 0x05);
  assert.equal(rd(mr, LCR, 1), 0x03);
});

test('serial: scratch register holds a byte', () => {
  const { mr } = make();
  wr(mr, SCR, 0x1a5, 1);
  assert.equal(rd(mr, SCR, 1), 0xa5);
});

test('serial: hostIo is called for output and for a look at an empty receiver, not for a look that finds input', () => {
  const be = new PipeBackend();
  let calls = 0;
  const s = new Serial(irqLine(() => {}), be, { hostIo: () => calls++ });
  wr(s.mr, 0, 0x41, 1);
  assert.equal(calls, 1);
  rd(s.mr, LSR, 1); // nothing received: a polling guest waits on the host
  assert.equal(calls, 2);
  be.feed('k');
  assert.equal(rd(s.mr, LSR, 1) & 1, 1);
  assert.equal(calls, 2);
  // Loopback output stays in the device: no host I/O.
  wr(s.mr, LCR, 0, 1);
  rd(s.mr, RBR, 1);
  wr(s.mr, MCR, 0x10, 1);
  const before = calls;
  wr(s.mr, 0, 0x42, 1);
  assert.equal(calls, before);
});

test('serial: input without FIFO is accepted one byte at a time, none lost', () => {
  const { mr, be } = make();
  be.feed('abc');
  assert.equal(be.queuedInput, 2);
  assert.equal(rd(mr, LSR, 1) & 1, 1);
  let got = '';
  while (rd(mr, LSR, 1) & 1) got += String.fromCharCode(rd(mr, RBR, 1));
  assert.equal(got, 'abc');
  assert.equal(be.queuedInput, 0);
  assert.equal(rd(mr, RBR, 1), 0); // empty FIFO reads 0
});

test('serial: FIFO holds 16 bytes; the rest waits in the backend queue', () => {
  const { mr, be } = make();
  wr(mr, FCR, 0x01, 1);
  const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
  be.feed(text);
  assert.equal(be.queuedInput, text.length - 16);
  assert.equal(rd(mr, LSR, 1) & 0x02, 0, 'no overrun');
  let got = '';
  while (rd(mr, LSR, 1) & 1) got += String.fromCharCode(rd(mr, RBR, 1));
  assert.equal(got, text);
});

test('serial: IIR reports RX data, trigger level vs timeout, FIFO bits', () => {
  const { mr, be, irq } = make();
  wr(mr, FCR, 0x81, 1); // FIFO on, trigger 8
  wr(mr, IER, 0x01, 1);
  assert.equal(irq.level, false);
  be.feed('abc');
  assert.equal(irq.level, true);
  assert.equal(rd(mr, IIR, 1), 0xcc, 'below trigger: character timeout');
  be.feed('defghij');
  assert.equal(rd(mr, IIR, 1), 0xc4, 'at/above trigger: data available');
  for (let i = 0; i < 10; i++) rd(mr, RBR, 1);
  assert.equal(rd(mr, IIR, 1), 0xc1);
  assert.equal(irq.level, false);
});

test('serial: THRE interrupt on enabling, cleared by IIR read, re-raised by THR write', () => {
  const { mr, irq } = make();
  wr(mr, IER, 0x02, 1);
  assert.equal(irq.level, true);
  assert.equal(rd(mr, IIR, 1), 0x02);
  assert.equal(irq.level, false);
  assert.equal(rd(mr, IIR, 1), 0x01);
  wr(mr, 0, 0x41, 1);
  assert.equal(irq.level, true);
  wr(mr, IER, 0x00, 1);
  assert.equal(irq.level, false);
});

test('serial: IIR priority: line status > RX data > THRE; loopback makes no modem-status deltas (QEMU)', () => {
  const { mr, be } = make();
  wr(mr, MCR, 0x10, 1); // loopback to cause an overrun
  wr(mr, IER, 0x0f, 1);
  wr(mr, 0, 0x31, 1);
  wr(mr, 0, 0x32, 1); // FIFO off: one-byte holding register -> overrun
  assert.equal(rd(mr, IIR, 1), 0x06);
  assert.equal(rd(mr, LSR, 1) & 0x03, 0x03);
  assert.equal(rd(mr, IIR, 1), 0x04);
  assert.equal(rd(mr, RBR, 1), 0x31);
  assert.equal(rd(mr, IIR, 1), 0x02);
  assert.equal(rd(mr, IIR, 1), 0x01);
  assert.equal(rd(mr, MSR, 1) & 0x0f, 0);
  assert.equal(be.output().length, 0, 'loopback does not transmit');
});

test('serial: loopback MSR mirrors MCR; input waits while in loopback', () => {
  const { mr, be } = make();
  wr(mr, MCR, 0x10, 1);
  assert.equal(rd(mr, MSR, 1) & 0xf0, 0x00);
  wr(mr, MCR, 0x1f, 1);
  assert.equal(rd(mr, MSR, 1) & 0xf0, 0xf0);
  be.feed('z');
  assert.equal(rd(mr, LSR, 1) & 1, 0);
  wr(mr, MCR, 0x0b, 1);
  assert.equal(rd(mr, MSR, 1), 0xb0, 'no delta bits on leaving loopback');
  assert.equal(rd(mr, RBR, 1), 0x7a);
});

test('serial: FCR clearing the TX FIFO re-arms THRE (QEMU)', () => {
  const { mr, irq } = make();
  wr(mr, IER, 0x02, 1);
  assert.equal(rd(mr, IIR, 1), 0x02);
  assert.equal(rd(mr, IIR, 1), 0x01);
  wr(mr, FCR, 0x07, 1);
  assert.equal(irq.level, true);
  assert.equal(rd(mr, IIR, 1), 0xc2);
});

test('serial: FCR clear RX empties the FIFO and pulls queued input', () => {
  const { mr, be } = make();
  wr(mr, FCR, 0x01, 1);
  be.feed('x'.repeat(20));
  wr(mr, FCR, 0x03, 1);
  assert.equal(be.queuedInput, 0);
  let n = 0;
  while (rd(mr, LSR, 1) & 1) { rd(mr, RBR, 1); n++; }
  assert.equal(n, 4);
});

test('serial: reset restores registers and keeps the backend queue', () => {
  const { s, mr, be } = make();
  wr(mr, IER, 0x0f, 1);
  wr(mr, LCR, 0x9b, 1);
  be.feed('pq');
  assert.equal(be.queuedInput, 1);
  s.reset();
  assert.equal(rd(mr, LCR, 1), 0);
  assert.equal(rd(mr, IER, 1), 0);
  // The byte in the receive register is gone (as on hardware); the queued one arrives.
  assert.equal(rd(mr, RBR, 1), 0x71);
});

test('serial: hostile accesses never throw', () => {
  const { mr, be } = make();
  be.feed('some input');
  fuzzRegion(mr, 8, 20000, 7);
  for (let off = 0; off < 8; off++) for (const v of [0, 0xff, 0xffffffff, 0x80000000]) wr(mr, off, v, 4);
});
