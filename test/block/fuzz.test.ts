// Property tests: qcow2 metadata parsing never fails in any way but a typed
// format error, and a driver on a randomly damaged image fails requests with
// I/O errors at worst: no crash (TypeError, RangeError...), no hang, no
// runaway file growth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { BlockError } from '../../src/block/driver.js';
import { Qcow2Corrupt } from '../../src/block/qcow2/errors.js';
import { Qcow2FormatError, parseHeader, parseSnapshots, compressedExtent } from '../../src/block/qcow2/format.js';
import { open, pattern, qemuImg, tmp } from './helpers.js';

function expected(e: unknown): boolean {
  return e instanceof Qcow2FormatError || e instanceof BlockError || e instanceof Qcow2Corrupt || (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && !(e instanceof TypeError) && !(e instanceof RangeError));
}

/** A small valid image to mutate: 4 KiB clusters, data, a snapshot, so every table kind exists. */
function seedImage(): Uint8Array {
  const raw = tmp('seed.raw');
  const data = new Uint8Array(1 << 20);
  data.set(pattern(256 << 10, 9), 128 << 10);
  writeFileSync(raw, data);
  const p = tmp('seed.qcow2');
  qemuImg('convert', '-q', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, p);
  qemuImg('snapshot', '-c', 's1', p);
  return new Uint8Array(readFileSync(p));
}

test('parseHeader: arbitrary bytes after a valid magic give a header or a Qcow2FormatError', () => {
  const seed = seedImage();
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 4, max: 127 }), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 0, max: 1 << 24 }),
      (edits, fileLen) => {
        const buf = seed.slice(0, 4096);
        for (const { at, v } of edits) buf[at] = v;
        try {
          const h = parseHeader(buf, fileLen, true);
          assert.ok(h.l1Offset % h.clusterSize === 0 || h.l1Size === 0);
          assert.ok(h.l1Offset + h.l1Size * 8 <= fileLen || h.l1Size === 0);
          assert.ok(h.refTableOffset + h.refTableClusters * h.clusterSize <= fileLen);
          assert.ok(Number.isSafeInteger(h.size) && h.size >= 0);
        } catch (e) {
          if (!(e instanceof Qcow2FormatError)) throw e;
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('parseSnapshots and compressedExtent: any bytes, no crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 10 }), (b, n) => {
      try {
        const s = parseSnapshots(b, n);
        assert.equal(s.length, n);
      } catch (e) {
        if (!(e instanceof Qcow2FormatError)) throw e;
      }
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 9, max: 21 }), (hi, lo, bits) => {
      const { offset, length } = compressedExtent(hi & 0x3fffffff, lo, bits);
      const maxSectors = 2 ** (bits - 8) - 1; // the sector-count field is bits - 8 wide
      assert.ok(Number.isSafeInteger(offset) && Number.isSafeInteger(offset + length) && length > 0 && length <= (maxSectors + 1) * 512);
    }),
    { numRuns: 1000 },
  );
});

test('fuzz regression qcow2 seed -253851278: a compressed extent whose end is 2^53 is clamped past the end of any file', () => {
  // 64 KiB clusters: offset bits 0-52 all but the low 18 set (2^53 - 256 KiB), 511 more sectors.
  const { offset, length } = compressedExtent(0x3fffffff, 0xfffc0000, 17);
  assert.ok(Number.isSafeInteger(offset) && Number.isSafeInteger(offset + length) && length > 0);
  assert.ok(offset > 2 ** 52, 'still past the end of any real file');
});

test('a driver on a randomly damaged image: open error or per-request I/O errors, never a crash', async () => {
  const seed = seedImage();
  const metaEnd = Math.min(seed.length, 16 * 4096);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ at: fc.integer({ min: 0, max: metaEnd - 1 }), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 24 }),
      fc.integer({ min: 0, max: 255 }),
      async (edits, wseed) => {
        const img = seed.slice();
        for (const { at, v } of edits) img[at] = v;
        const f = tmp('fuzz.qcow2');
        writeFileSync(f, img);
        let d;
        try {
          d = await open(f, { format: 'qcow2' });
        } catch (e) {
          assert.ok(expected(e), `open: ${String(e)}`);
          return;
        }
        const ops: Array<() => Promise<unknown>> = [];
        const size = Math.min(d.size, 1 << 20);
        const buf = new Uint8Array(64 << 10);
        for (let off = 0; off + buf.length <= size; off += buf.length) ops.push(() => d.readv([buf], off));
        for (let i = 0; i < 6; i++) {
          const off = Math.floor(((wseed * 7919 + i * 104729) % Math.max(1, size - 8192)) / 512) * 512;
          ops.push(() => d.writev([pattern(8192, i)], off));
        }
        if (size > 65536) ops.push(() => d.discard(0, 65536), () => d.writeZeroes(4096, 8192));
        for (const op of ops) {
          try {
            await op();
          } catch (e) {
            assert.ok(expected(e), `request: ${String(e)} ${(e as Error).stack}`);
          }
        }
        await d.close().catch((e: unknown) => assert.ok(expected(e), `close: ${String(e)}`));
        assert.ok(statSync(f).size < img.length + (8 << 20), 'no runaway growth');
      },
    ),
    { numRuns: 80 },
  );
});
