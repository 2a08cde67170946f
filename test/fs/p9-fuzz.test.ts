// Property tests: any byte string is parsed into a request or a typed
// failure, and the server answers every message (Rlerror or a well-formed
// reply) without throwing, without touching anything outside the export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P9Server } from '../../src/fs/p9-server.js';
import * as W from '../../src/fs/p9-wire.js';

const TYPES = [
  W.P9_TVERSION, W.P9_TATTACH, W.P9_TWALK, W.P9_TLOPEN, W.P9_TLCREATE, W.P9_TREAD, W.P9_TWRITE, W.P9_TCLUNK, W.P9_TREMOVE,
  W.P9_TSTATFS, W.P9_TSYMLINK, W.P9_TMKNOD, W.P9_TRENAME, W.P9_TREADLINK, W.P9_TGETATTR, W.P9_TSETATTR, W.P9_TXATTRWALK,
  W.P9_TXATTRCREATE, W.P9_TREADDIR, W.P9_TFSYNC, W.P9_TLOCK, W.P9_TGETLOCK, W.P9_TLINK, W.P9_TMKDIR, W.P9_TRENAMEAT,
  W.P9_TUNLINKAT, W.P9_TFLUSH, W.P9_TAUTH,
];
const REASONS = new Set(['bad-size', 'too-big', 'truncated', 'trailing-bytes', 'bad-string', 'too-many-names', 'unknown-type']);

test('parseTMessage: arbitrary bytes give a request or a typed failure, never an exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.constantFrom(...TYPES), (bytes, fixHeader, type) => {
      const msg = bytes.slice();
      if (fixHeader && msg.length >= 7) {
        new DataView(msg.buffer).setUint32(0, msg.length, true);
        msg[4] = type;
      }
      const r = W.parseTMessage(msg, 8192);
      if (!r.ok) assert.ok(REASONS.has(r.reason), r.reason);
      else assert.equal(msg.length, new DataView(msg.buffer).getUint32(0, true));
    }),
    { numRuns: 3000 },
  );
});

/** Field values a hostile client likes: small fids that exist, huge counts, names with / and .. */
const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 0xffffffff, 0x7fffffff, 65536), fc.nat());
const u64 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat());
const name = fc.oneof(fc.constantFrom('..', '.', 'a', 'd', 'f', 'out', '../x', 'a/b', '', 'x\u0000y', '.virtfs_metadata'), fc.string({ maxLength: 8 }));
const field = fc.oneof(
  u32.map((v) => ['u32', v] as const),
  u64.map((v) => ['u64', v] as const),
  fc.nat(0xffff).map((v) => ['u16', v] as const),
  fc.nat(0xff).map((v) => ['u8', v] as const),
  name.map((v) => ['str', v] as const),
);
const message = fc.record({ type: fc.constantFrom(...TYPES), tag: fc.nat(0xffff), fields: fc.array(field, { maxLength: 8 }) });

test('P9Server: any sequence of (mostly well-typed, hostile) messages is answered; nothing outside the export changes', () => {
  const base = mkdtempSync(join(tmpdir(), 'tsvmm-9pfuzz-'));
  const root = join(base, 'export');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'd'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'f'), 'data');
  writeFileSync(join(outside, 'secret'), 'secret');
  symlinkSync(outside, join(root, 'out'));
  for (const model of ['none', 'mapped-file'] as const) {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 40 }), (msgs) => {
        const s = new P9Server({ path: root, securityModel: model, maxMsize: 16384 });
        // A session most sequences can build on: fid 0 at the root, fid 1 on d.
        s.handle(new W.TBuilder(W.P9_TVERSION, 0).u32(16384).str('9P2000.L').build(), 16384);
        s.handle(new W.TBuilder(W.P9_TATTACH, 0).u32(0).u32(W.P9_NOFID).str('').str('').u32(0).build(), 16384);
        s.handle(new W.TBuilder(W.P9_TWALK, 0).u32(0).u32(1).u16(1).str('d').build(), 16384);
        for (const m of msgs) {
          const b = new W.TBuilder(m.type, m.tag);
          for (const [k, v] of m.fields) {
            if (k === 'str') b.str(v as string);
            else b[k](v as number);
          }
          const reply = s.handle(b.build(), 16384);
          assert.ok(reply, 'a reply');
          assert.equal(new DataView(reply.buffer, reply.byteOffset).getUint32(0, true), reply.length);
          assert.ok(reply.length <= s.msize);
        }
        s.close();
        assert.deepEqual(readdirSync(outside), ['secret']);
        assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'secret');
      }),
      { numRuns: 300 },
    );
  }
});
