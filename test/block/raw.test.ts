import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { pattern, open, rawImage } from './helpers.js';

test('raw discard=unmap punches a hole (fewer host blocks, zeros read back); discard=ignore zeroes', async () => {
  const p = rawImage(4 << 20, (b) => b.set(pattern(4 << 20, 8)));
  const before = statSync(p).blocks;
  const d = await open(p, { format: 'raw', discard: 'unmap' });
  await d.discard(1 << 20, 2 << 20);
  const back = new Uint8Array(2 << 20);
  await d.readv([back], 1 << 20);
  assert.ok(back.every((b) => b === 0));
  const edge = new Uint8Array(512);
  await d.readv([edge], (3 << 20) - 512 + 512);
  assert.ok(Buffer.from(edge).equals(Buffer.from(pattern(4 << 20, 8).subarray(3 << 20, (3 << 20) + 512))), 'data after the range is kept');
  await d.close();
  assert.ok(statSync(p).blocks < before - 2048, `blocks ${before} -> ${statSync(p).blocks}`);
  assert.equal(statSync(p).size, 4 << 20, 'the size is kept');
  const q = rawImage(1 << 20, (b) => b.fill(3));
  const e = await open(q, { format: 'raw' });
  await e.discard(0, 4096);
  const z = new Uint8Array(4096);
  await e.readv([z], 0);
  assert.ok(z.every((b) => b === 0));
  await e.close();
});
