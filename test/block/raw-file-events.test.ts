import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFile } from '../../src/block/raw-file.js';

test('raw file: a host I/O error is reported to the onIoError hook before the request fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-raw-'));
  const path = join(dir, 'd.img');
  writeFileSync(path, new Uint8Array(4096));
  const seen: [string, string | undefined][] = [];
  const img = new RawFile(path, { onIoError: (op, e) => seen.push([op, (e as NodeJS.ErrnoException).code]) });
  await img.write(new Uint8Array(512).fill(1), 0);
  assert.deepEqual(seen, []);
  // Swap in a descriptor the process does not have: the host now fails every request (EBADF).
  const inner = img as unknown as { fd: number };
  const real = inner.fd;
  inner.fd = 0x7ffffff0;
  await assert.rejects(img.write(new Uint8Array(512), 0));
  await assert.rejects(img.read(new Uint8Array(512), 0));
  await assert.rejects(img.flush());
  assert.deepEqual(seen, [['write', 'EBADF'], ['read', 'EBADF'], ['flush', 'EBADF']]);
  inner.fd = real;
  img.close();
});
