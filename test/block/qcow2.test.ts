import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Qcow2 } from '../../src/block/qcow2/qcow2.js';
import { check, compare, open, pattern, qemuImg, rawImage, rng, tmp, warnings } from './helpers.js';

/**
 * Random writes (sector-aligned, often not cluster-aligned) through tsvmm's
 * qcow2 driver, mirrored into a byte array; read back, then qemu-img check
 * and qemu-img compare against a raw file holding the mirror.
 */
async function workload(path: string, size: number, seed: number, writes: number, base?: Uint8Array): Promise<Uint8Array> {
  const mirror = base ? base.slice(0, size) : new Uint8Array(size);
  if (mirror.length < size) {
    const m = new Uint8Array(size);
    m.set(mirror);
    return workloadOn(path, m, seed, writes);
  }
  return workloadOn(path, mirror, seed, writes);
}

async function workloadOn(path: string, mirror: Uint8Array, seed: number, writes: number): Promise<Uint8Array> {
  const d = await open(path, { format: 'qcow2' });
  const r = rng(seed);
  const size = mirror.length;
  const pending: Promise<void>[] = [];
  let ranges: [number, number][] = [];
  for (let i = 0; i < writes; i++) {
    const sectors = 1 + Math.floor(r() * (r() < 0.2 ? 600 : 40));
    const len = Math.min(sectors * 512, size);
    const off = Math.floor(r() * ((size - len) / 512 + 1)) * 512;
    const data = pattern(len, seed * 1000 + i);
    // Overlapping writes in flight together may land in either order on any disk: wait first.
    if (ranges.some(([a, b]) => off < b && off + len > a)) {
      await Promise.all(pending.splice(0));
      ranges = [];
    }
    ranges.push([off, off + len]);
    mirror.set(data, off);
    // Split the data into two iov pieces to exercise gathering.
    const cut = Math.floor(len / 2);
    pending.push(d.writev([data.subarray(0, cut), data.subarray(cut)], off));
    if (pending.length >= 8 || r() < 0.3) {
      await Promise.all(pending.splice(0));
      ranges = [];
    }
    if (r() < 0.1) {
      const zl = Math.floor(r() * 300) * 512;
      const zo = Math.floor(r() * ((size - zl) / 512 + 1)) * 512;
      await Promise.all(pending.splice(0));
      ranges = [];
      mirror.fill(0, zo, zo + zl);
      await (r() < 0.5 ? d.writeZeroes(zo, zl) : d.discard(zo, zl));
    }
  }
  await Promise.all(pending);
  const back = new Uint8Array(size);
  await d.readv([back], 0);
  assert.ok(Buffer.from(back).equals(Buffer.from(mirror)), 'data read back equals the data written');
  await d.flush();
  await d.close();
  return mirror;
}

function assertClean(path: string): void {
  const c = check(path);
  assert.equal(c.code, 0, `qemu-img check: ${c.out}`);
}

function assertSame(path: string, mirror: Uint8Array): void {
  const raw = tmp('mirror.raw');
  writeFileSync(raw, mirror);
  const c = compare(raw, path);
  assert.equal(c.code, 0, `qemu-img compare: ${c.out}`);
}

for (const [label, opts] of [
  ['v3 64K', ['-o', 'cluster_size=65536']],
  ['v2 (compat=0.10)', ['-o', 'compat=0.10']],
  ['v3 4K clusters, 8-bit refcounts', ['-o', 'cluster_size=4096,refcount_bits=8']],
  ['v3 512-byte clusters (refcount table grows)', ['-o', 'cluster_size=512']],
  ['v3 64K, 1-bit refcounts... no: 64-bit refcounts', ['-o', 'refcount_bits=64']],
] as const) {
  test(`qcow2 ${label}: random writes read back, qemu-img check clean, compare equal`, async () => {
    const p = tmp('img.qcow2');
    const size = 24 << 20;
    qemuImg('create', '-q', '-f', 'qcow2', ...opts, p, String(size));
    const mirror = await workload(p, size, 7, 120);
    assertClean(p);
    assertSame(p, mirror);
    // Reopen and write more (allocation after reopen finds the free space).
    const mirror2 = await workloadOn(p, mirror, 8, 40);
    assertClean(p);
    assertSame(p, mirror2);
  });
}

test('qcow2 over a raw backing file: reads fall through, partial writes copy from the backing file', async () => {
  const size = 8 << 20;
  const baseData = pattern(size, 99);
  const base = rawImage(size, (b) => b.set(baseData));
  const p = tmp('overlay.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', p);
  const mirror = await workload(p, size, 3, 60, baseData);
  assertClean(p);
  assertSame(p, mirror);
  assert.ok(Buffer.from(readFileSync(base)).equals(Buffer.from(baseData)), 'the backing file is unchanged');
});

test('qcow2 chain: qcow2 over qcow2 (probed backing format) over raw, with a smaller backing file', async () => {
  const baseData = pattern(4 << 20, 5);
  const base = rawImage(4 << 20, (b) => b.set(baseData));
  const mid = tmp('mid.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', mid, String(6 << 20));
  const top = tmp('top.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', mid, '-F', 'qcow2', top, String(8 << 20));
  const expect = new Uint8Array(8 << 20);
  expect.set(baseData);
  const mirror = await workloadOn(top, expect, 11, 50);
  assertClean(top);
  assertClean(mid);
  assertSame(top, mirror);
});

test('qcow2 compressed clusters: read, then overwritten (COW out of the compressed cluster)', async () => {
  const size = 4 << 20;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i >> 9) & 0xff; // compressible
  const raw = rawImage(size, (b) => b.set(data));
  const p = tmp('comp.qcow2');
  qemuImg('convert', '-q', '-c', '-O', 'qcow2', raw, p);
  const d = await open(p, { format: 'qcow2' });
  const back = new Uint8Array(size);
  await d.readv([back], 0);
  assert.ok(Buffer.from(back).equals(Buffer.from(data)), 'compressed clusters decompress to the original');
  await d.close();
  const mirror = await workloadOn(p, data.slice(), 21, 40);
  assertClean(p);
  assertSame(p, mirror);
});

test('qcow2 internal snapshots: listed; writes COW shared clusters and L2 tables; the snapshot still holds the old data', async () => {
  const size = 8 << 20;
  const data = pattern(size, 4);
  const raw = rawImage(size, (b) => b.set(data));
  const p = tmp('snap.qcow2');
  qemuImg('convert', '-q', '-O', 'qcow2', raw, p);
  qemuImg('snapshot', '-c', 'before', p);
  const d = await open(p, { format: 'qcow2' });
  assert.deepEqual((d.root as Qcow2).snapshots.map((s) => s.name), ['before']);
  assert.match(d.description, /snapshots: before/);
  await d.close();
  const mirror = await workloadOn(p, data.slice(), 31, 60);
  assertClean(p);
  assertSame(p, mirror);
  qemuImg('snapshot', '-a', 'before', p);
  assertSame(p, data);
  assertClean(p);
});

test('discard=unmap frees clusters (the file does not keep growing) and reads return zeros', async () => {
  const p = tmp('unmap.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', p, String(16 << 20));
  const d = await open(p, { format: 'qcow2', discard: 'unmap' });
  const big = pattern(8 << 20, 1);
  await d.writev([big], 0);
  await d.discard(0, 8 << 20);
  await d.writev([big], 8 << 20);
  const back = new Uint8Array(8 << 20);
  await d.readv([back], 0);
  assert.ok(back.every((b) => b === 0));
  await d.close();
  assertClean(p);
  const map = qemuImg('map', '--output=json', p);
  const allocated = (JSON.parse(map) as { data: boolean; length: number }[]).filter((e) => e.data).reduce((s, e) => s + e.length, 0);
  assert.equal(allocated, 8 << 20, 'only the second 8 MiB are allocated');
});

test('-snapshot: writes go to a temporary overlay; the image bytes are unchanged', async () => {
  const p = tmp('keep.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', p, String(4 << 20));
  const raw = rawImage(1 << 20, (b) => b.set(pattern(1 << 20, 2)));
  for (const img of [p, raw]) {
    const before = createHash('sha256').update(readFileSync(img)).digest('hex');
    const d = await open(img, { snapshot: true });
    const data = pattern(300 * 512, 3);
    await d.writev([data], 512);
    await d.writev([new Uint8Array(512)], 0);
    const back = new Uint8Array(data.length);
    await d.readv([back], 512);
    assert.ok(Buffer.from(back).equals(Buffer.from(data)), 'the guest sees its writes');
    await d.flush();
    await d.close();
    assert.equal(createHash('sha256').update(readFileSync(img)).digest('hex'), before, `${img} unchanged`);
  }
});

test('probing: qcow2 is recognised without format=; a guessed raw image warns and refuses a qcow2 header in sector 0', async () => {
  const q = tmp('probe.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', q, '1M');
  const dq = await open(q);
  assert.equal(dq.size, 1 << 20);
  assert.ok(dq.root instanceof Qcow2);
  await dq.close();
  const raw = rawImage(1 << 20);
  warnings.length = 0;
  const d = await open(raw);
  assert.match(warnings.join('\n'), /probing guessed raw[\s\S]*write operations on block 0 will be restricted/);
  const hdr = readFileSync(q).subarray(0, 512);
  await assert.rejects(d.writev([new Uint8Array(hdr)], 0), /probed format/);
  await assert.rejects(d.writev([new Uint8Array(256)], 0), /whole sector/);
  const mbr = new Uint8Array(512);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  await d.writev([mbr], 0);
  await d.close();
  assert.equal(readFileSync(raw)[511], 0xaa);
  // format=raw lifts the restriction.
  const d2 = await open(raw, { format: 'raw' });
  await d2.writev([new Uint8Array(hdr)], 0);
  await d2.close();
});
