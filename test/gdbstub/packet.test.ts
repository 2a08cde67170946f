import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PacketParser, encodePacket, type PacketEvent } from '../../src/gdbstub/packet.js';

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
function frame(body: string): string {
  let sum = 0;
  for (const c of Buffer.from(body, 'latin1')) sum += c;
  return `$${body}#${(sum & 0xff).toString(16).padStart(2, '0')}`;
}
function packets(evs: PacketEvent[]): string[] {
  return evs.flatMap((e) => (e.kind === 'packet' ? [Buffer.from(e.data).toString('latin1')] : []));
}

test('well-formed packets, acks and interrupts, split at any byte', () => {
  const stream = `+${frame('qSupported:multiprocess+')}-\x03${frame('g')}`;
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new PacketParser();
    const evs = [...p.feed(enc(stream.slice(0, cut))), ...p.feed(enc(stream.slice(cut)))];
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['ack', 'packet', 'nack', 'interrupt', 'packet'],
    );
    assert.deepEqual(packets(evs), ['qSupported:multiprocess+', 'g']);
  }
});

test('escapes and run-length encoding are undone; the checksum covers the raw bytes', () => {
  const p = new PacketParser();
  // '}' 0x5d escapes '}' itself; "0* " is '0' and three more.
  assert.deepEqual(packets(p.feed(enc(frame('X1,2:}]a0* b')))), ['X1,2:}a0000b']);
  assert.equal(p.counters.packets, 1);
});

test('bad checksums, bad escapes, bad run lengths and overlong packets are typed errors, and the parser resynchronises', () => {
  const p = new PacketParser(64);
  const good = frame('m80000000,4');
  const bad = good.slice(0, -2) + '00';
  const evs = p.feed(enc(`${bad}${frame('abc}')}${frame('*!x')}${frame('a*\x01')}$${'A'.repeat(500)}#00${good}`));
  assert.deepEqual(
    evs.map((e) => (e.kind === 'error' ? e.reason : e.kind)),
    ['bad-checksum', 'bad-escape', 'bad-run-length', 'bad-run-length', 'too-long', 'packet'],
  );
  assert.deepEqual(packets(evs), ['m80000000,4']);
  assert.equal(p.counters.errors['bad-checksum'], 1);
  assert.equal(p.counters.errors['too-long'], 1);
  // A run length that would expand past the limit is refused too.
  assert.deepEqual(
    new PacketParser(16).feed(enc(frame('a*~*~'))).map((e) => (e.kind === 'error' ? e.reason : e.kind)),
    ['too-long'],
  );
  // Non-hex checksum digits; a '$' inside a packet abandons it.
  assert.deepEqual(
    p.feed(enc(`$g#zz$ab${frame('c')}`)).map((e) => (e.kind === 'error' ? e.reason : e.kind)),
    ['bad-checksum', 'bad-checksum', 'packet'],
  );
});

test('encodePacket escapes the framing characters and round-trips through the parser', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      const evs = new PacketParser().feed(encodePacket(data));
      assert.equal(evs.length, 1);
      assert.equal(evs[0]!.kind, 'packet');
      assert.deepEqual(Buffer.from((evs[0] as { data: Uint8Array }).data), Buffer.from(data));
    }),
  );
  assert.equal(Buffer.from(encodePacket('OK')).toString(), '$OK#9a');
});

test('arbitrary bytes never throw and never yield a packet larger than the limit', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (chunks) => {
      const p = new PacketParser(128);
      for (const c of chunks) for (const e of p.feed(c)) if (e.kind === 'packet') assert.ok(e.data.length <= 128);
    }),
  );
});
