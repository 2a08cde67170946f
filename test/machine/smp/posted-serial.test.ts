/**
 * The console UART's posted accesses (src/machine/smp/posted-serial.ts): a
 * realm reads LSR and posts THR bytes itself only while that is
 * indistinguishable from the device doing it, and posted bytes come out in
 * order, before anything the device does next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serial } from '../../../src/hw/char/serial.js';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import { irqLine } from '../../../src/hw/irq.js';
import { allocateSerialShare, PostedSerialClient, SerialPosting } from '../../../src/machine/smp/posted-serial.js';
import { MAIN_REALM, SmpShared, W_IDLE, W_KICK } from '../../../src/machine/smp/shared.js';
import { rd, wr } from '../../hw/misc/helpers.js';

const THR = 0, IER = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5;

function make() {
  const be = new PipeBackend();
  const irq = { level: false };
  const serial = new Serial(irqLine((l) => (irq.level = l)), be);
  const shared = SmpShared.create(2);
  const buf = allocateSerialShare();
  const posting = new SerialPosting(serial, buf);
  const realm = new PostedSerialClient(buf, shared);
  const post = (text: string): void => {
    for (const c of text) assert.ok(realm.tryWrite(THR, 1, c.charCodeAt(0)), `posting ${c}`);
  };
  return { serial, mr: serial.mr, be, irq, shared, posting, realm, post };
}

test('posted serial: LSR is read and THR bytes are posted without the device; they come out in order before its next access', () => {
  const { mr, be, posting, realm, post } = make();
  assert.equal(realm.tryRead(LSR, 1), 0x60);
  post('hel');
  assert.equal(be.outputText(), '', 'nothing transmitted before the main realm drains');
  // Any access to the device (here a THR write asked of the main realm) transmits the posted bytes first.
  wr(mr, THR, 'l'.charCodeAt(0), 1);
  post('o');
  assert.equal(be.outputText(), 'hell');
  assert.equal(posting.pending(), true);
  assert.equal(posting.drain(), 1);
  assert.equal(be.outputText(), 'hello');
  assert.equal(posting.pending(), false);
  // Other registers, other sizes: asked of the device.
  assert.equal(realm.tryRead(IER, 1), -1);
  assert.equal(realm.tryRead(LSR, 4), -1);
  assert.equal(realm.tryWrite(IER, 1, 0), false);
  assert.equal(realm.tryWrite(THR, 2, 0x41), false);
});

test('posted serial: no posting while a THR write would do more than transmit (divisor latch, loopback, THRE interrupt)', () => {
  const { mr, be, irq, posting, realm, post } = make();
  wr(mr, LCR, 0x83, 1);
  assert.equal(realm.tryWrite(THR, 1, 0x41), false, 'DLAB: THR is the divisor latch');
  wr(mr, LCR, 0x03, 1);
  post('a');
  wr(mr, MCR, 0x18, 1);
  assert.equal(realm.tryWrite(THR, 1, 0x42), false, 'loopback: the byte would be received');
  wr(mr, MCR, 0x08, 1);
  wr(mr, IER, 0x02, 1);
  assert.equal(irq.level, true, 'THRE interrupt pending once enabled');
  rd(mr, 2, 1); // IIR read acknowledges it
  assert.equal(irq.level, false);
  assert.equal(realm.tryWrite(THR, 1, 0x43), false, 'a THR write would raise the THRE interrupt again');
  wr(mr, IER, 0x00, 1);
  post('b');
  posting.drain();
  assert.equal(be.outputText(), 'ab');
});

test('posted serial: LSR with error bits (its read clears them) and received data go through the device', () => {
  const { serial, mr, realm } = make();
  // FIFOs off: one byte of room; a second byte overruns (LSR.OE, which a read clears).
  serial.receive(new Uint8Array([0x31, 0x32]));
  assert.equal(realm.tryRead(LSR, 1), -1);
  assert.equal(rd(mr, LSR, 1) & 0x03, 0x03);
  assert.equal(realm.tryRead(LSR, 1), 0x61, 'DR published, OE cleared by the read');
  assert.equal(rd(mr, THR, 1), 0x31);
  assert.equal(realm.tryRead(LSR, 1), 0x60);
  wr(mr, FCR, 0x01, 1);
  serial.reset();
  assert.equal(realm.tryRead(LSR, 1), 0x60);
});

test('posted serial: a full ring makes the realm ask; posting wakes a sleeping main realm', () => {
  const { be, shared, posting, realm } = make();
  let n = 0;
  while (realm.tryWrite(THR, 1, 0x30 + (n % 10))) n++;
  assert.equal(n, 1024);
  assert.equal(posting.drain(), 1024);
  assert.equal(be.outputText(), Array.from({ length: 1024 }, (_, i) => String(i % 10)).join(''));
  const kick = shared.w(MAIN_REALM, W_KICK);
  const k0 = Atomics.load(shared.i32, kick);
  assert.ok(realm.tryWrite(THR, 1, 0x41));
  assert.equal(Atomics.load(shared.i32, kick), k0, 'an awake main realm is not kicked');
  Atomics.store(shared.i32, shared.w(MAIN_REALM, W_IDLE), 1);
  assert.ok(realm.tryWrite(THR, 1, 0x42));
  assert.equal(Atomics.load(shared.i32, kick), k0 + 1);
  posting.drain();
  assert.ok(be.outputText().endsWith('AB'));
});
