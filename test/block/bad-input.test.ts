// Hostile and broken images: one clear error at open, or an I/O error for
// the request at run time; never a crash, never a write that damages the
// image further, nothing acknowledged lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openSync, readFileSync, closeSync, writeSync, truncateSync, statSync, symlinkSync } from 'node:fs';
import { BlockError } from '../../src/block/driver.js';
import { RawFile } from '../../src/block/raw-file.js';
import { Qcow2 } from '../../src/block/qcow2/qcow2.js';
import { check, open, pattern, qemuImg, tmp } from './helpers.js';

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

function poke(path: string, offset: number, bytes: number[]): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, offset);
  closeSync(fd);
}

function be64(v: number): number[] {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, Math.floor(v / 0x100000000));
  dv.setUint32(4, v % 0x100000000);
  return [...b];
}

function u64At(path: string, at: number): number {
  const dv = new DataView(readFileSync(path).buffer);
  return dv.getUint32(at) * 0x100000000 + dv.getUint32(at + 4);
}

/** A 4 MiB qcow2 (64 KiB clusters) with its first 1 MiB written. */
async function imageWithData(): Promise<string> {
  const p = tmp('bad.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', p, String(4 << 20));
  const d = await open(p, { format: 'qcow2' });
  await d.writev([pattern(1 << 20, 1)], 0);
  await d.close();
  return p;
}

async function openError(path: string, spec: Parameters<typeof open>[1] = {}): Promise<string> {
  try {
    const d = await open(path, spec);
    await d.close();
  } catch (e) {
    assert.ok(e instanceof BlockError, `a BlockError, not ${String(e)}`);
    return e.message;
  }
  assert.fail('open succeeded');
}

test('open-time errors: truncated, huge size, unknown incompatible feature, dirty, corrupt-for-write, L1 or refcount table past EOF', async () => {
  const p = await imageWithData();
  const cases: Array<[string, (f: string) => void, RegExp]> = [
    ['truncated to 50 bytes', (f) => truncateSync(f, 50), /too short/],
    ['huge virtual size', (f) => poke(f, 24, be64(2 ** 62)), /too large/],
    ['unknown incompatible feature', (f) => poke(f, 72, be64(0x100)), /Unknown incompatible feature: 100/],
    ['dirty bit (lazy refcounts)', (f) => poke(f, 72, be64(1)), /dirty/],
    ['corrupt bit', (f) => poke(f, 72, be64(2)), /corrupt.*read-only/],
    ['L1 table past EOF', (f) => poke(f, 40, be64(0x10000000)), /L1 table offset .* past the end/],
    ['L1 table in the header', (f) => poke(f, 40, be64(0)), /L1 table offset/],
    ['refcount table past EOF', (f) => poke(f, 48, be64(0x10000000)), /refcount table offset/],
    ['encrypted', (f) => poke(f, 32, [0, 0, 0, 1]), /encrypted/],
    ['cluster bits 30', (f) => poke(f, 20, [0, 0, 0, 30]), /cluster size/],
  ];
  for (const [what, damage, msg] of cases) {
    const f = tmp('case.qcow2');
    qemuImg('convert', '-q', '-O', 'qcow2', p, f);
    damage(f);
    const before = sha(f);
    assert.match(await openError(f, { format: 'qcow2' }), msg, what);
    assert.equal(sha(f), before, `${what}: the file is unchanged`);
  }
  // The corrupt bit still allows read-only use.
  const f = tmp('ro.qcow2');
  qemuImg('convert', '-q', '-O', 'qcow2', p, f);
  poke(f, 72, be64(2));
  const d = await open(f, { format: 'qcow2', readonly: true });
  await d.close();
});

test('backing chain errors: missing backing file, cycle, backing file of an unsupported format', async () => {
  const a = tmp('a.qcow2');
  const b = tmp('b.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', b, '-F', 'qcow2', a, '1M');
  assert.match(await openError(a), /Could not open backing file: Could not open '.*b\.qcow2': No such file or directory/);
  qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', a, '-F', 'qcow2', b, '1M');
  assert.match(await openError(a), /backing chain has a cycle: .*a\.qcow2 -> .*b\.qcow2 -> .*a\.qcow2/);
  // A chain back to itself through a symlink: detected on the real path.
  const self = tmp('self.qcow2');
  const link = tmp('link.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', link, '-F', 'qcow2', self, '1M');
  symlinkSync(self, link);
  assert.match(await openError(self), /cycle/);
  const vmdk = tmp('x.vmdk');
  qemuImg('create', '-q', '-f', 'vmdk', vmdk, '1M');
  const c = tmp('c.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', vmdk, '-F', 'vmdk', c, '1M');
  assert.match(await openError(c), /format 'vmdk'.*not supported/);
  assert.match(await openError(vmdk), /image format 'vmdk' is not supported/);
  assert.match(await openError(tmp('nowhere.qcow2')), /Could not open '.*nowhere\.qcow2': No such file or directory/);
});

test('run-time metadata damage: L2 entries into the header or past EOF, L1 entry past EOF, refcount block past EOF give I/O errors and no damage', async () => {
  const p = await imageWithData();
  // Entry 1 of the first L2 table maps guest bytes 64K..128K.
  const cases: Array<[string, (f: string, l1: number, l2: number) => void]> = [
    ['L2 entry into the header', (f, _l1, l2) => poke(f, l2 + 8, be64(2 ** 63))],
    ['L2 entry unaligned into the header', (f, _l1, l2) => poke(f, l2 + 8, [0x80, 0, 0, 0, 0, 0, 2, 0])],
    ['L2 entry past EOF', (f, _l1, l2) => poke(f, l2 + 8, be64(2 ** 63 + 0x40000000))],
    ['L2 entry into the refcount table', (f, _l1, l2) => poke(f, l2 + 8, be64(2 ** 63 + u64At(f, 48)))],
    ['L1 entry past EOF', (f, l1) => poke(f, l1, be64(2 ** 63 + 0x40000000))],
  ];
  for (const [what, damage] of cases) {
    const f = tmp('rt.qcow2');
    qemuImg('convert', '-q', '-O', 'qcow2', p, f);
    const l1 = u64At(f, 40);
    damage(f, l1, u64At(f, l1) % 2 ** 55);
    const before = sha(f);
    const d = await open(f, { format: 'qcow2' });
    const buf = new Uint8Array(0x20000);
    await assert.rejects(d.readv([buf], 0), /corrupt/, `${what}: read fails`);
    await assert.rejects(d.writev([new Uint8Array(0x20000)], 0), /corrupt/, `${what}: write fails`);
    // A part of the disk that the damage does not reach still works.
    if (!/L1/.test(what)) {
      const ok = new Uint8Array(512);
      await d.readv([ok], 0x80000);
    }
    await d.close();
    assert.equal(sha(f), before, `${what}: the image is unchanged`);
  }
});

test('refcount block past EOF: an allocating write fails with an I/O error and the image is not written', async () => {
  const p = await imageWithData();
  const rt = u64At(p, 48);
  poke(p, rt, be64(0x40000000));
  const before = sha(p);
  const d = await open(p, { format: 'qcow2' });
  await assert.rejects(d.writev([new Uint8Array(512)], 3 << 20), /corrupt/);
  await assert.rejects(d.writev([new Uint8Array(512)], 3 << 20), /writes refused|corrupt/);
  const back = new Uint8Array(1 << 20);
  await d.readv([back], 0);
  assert.ok(Buffer.from(back).equals(Buffer.from(pattern(1 << 20, 1))), 'data already written still reads');
  await d.close();
  assert.equal(sha(p), before);
});

test('readonly=on: writes fail, the file is untouched; read-only qcow2 with a backing chain reads', async () => {
  const p = await imageWithData();
  const before = sha(p);
  const d = await open(p, { readonly: true });
  assert.equal(d.readonly, true);
  await assert.rejects(d.writev([new Uint8Array(512)], 0), /read-only/);
  await assert.rejects(d.discard(0, 65536), /read-only/);
  await d.close();
  assert.equal(sha(p), before);
});

/** A host file that fails every write after the first `budget` with ENOSPC (a full disk, or a crash: nothing later lands). */
class FullDisk extends RawFile {
  budget = Infinity;
  override writev(bufs: Uint8Array[], offset: number): Promise<void> {
    if (this.budget <= 0) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    this.budget--;
    return super.writev(bufs, offset);
  }
  override writeDurable(buf: Uint8Array, offset: number): Promise<void> {
    if (this.budget <= 0) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    this.budget--;
    return super.writeDurable(buf, offset);
  }
  override sync(): Promise<void> {
    return this.budget <= 0 ? Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })) : super.sync();
  }
}

test('ENOSPC / crash at every host write of an allocating workload: qemu-img check finds no corruption, acknowledged data stays', async () => {
  const size = 2 << 20;
  const base = tmp('enospc-base.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', base, String(size));
  /** Writes (some partial-cluster, some overwriting) as a guest would issue them; returns the expected disk and the bytes a failed write may have touched. */
  const work = async (q: Qcow2): Promise<{ expect: Uint8Array; unsure: Uint8Array }> => {
    const expect = new Uint8Array(size);
    const unsure = new Uint8Array(size);
    for (let i = 0; i < 14; i++) {
      const off = ((i * 37) % 64) * 6144;
      const data = pattern(6144 + (i % 3) * 512, i);
      try {
        await q.writev([data], off);
        expect.set(data, off);
        unsure.fill(0, off, off + data.length);
      } catch {
        unsure.fill(1, off, off + data.length); // the guest saw IOERR: any mix of old and new
      }
    }
    return { expect, unsure };
  };
  const f0 = tmp('count.qcow2');
  qemuImg('convert', '-q', '-O', 'qcow2', '-o', 'cluster_size=4096', base, f0);
  const counter = new FullDisk(f0);
  const q0 = await Qcow2.open(counter);
  counter.budget = 1e9;
  await work(q0);
  const writes = 1e9 - counter.budget;
  await q0.close();
  assert.ok(writes > 20);
  for (let k = 0; k <= writes; k += Math.max(1, Math.floor(writes / 40))) {
    const f = tmp('enospc.qcow2');
    qemuImg('convert', '-q', '-O', 'qcow2', '-o', 'cluster_size=4096', base, f);
    const file = new FullDisk(f);
    const q = await Qcow2.open(file);
    file.budget = k;
    const { expect, unsure } = await work(q);
    const c = check(f);
    assert.ok(c.code === 0 || c.code === 3, `stopped after ${k} writes: ${c.out}`);
    await q.close().catch(() => undefined);
    const c2 = check(f);
    assert.ok(c2.code === 0 || c2.code === 3, `after close, stopped after ${k} writes: ${c2.out}`);
    // Every acknowledged byte is in the file (read back by qemu-img, not by tsvmm).
    const raw = tmp('enospc.raw');
    qemuImg('convert', '-O', 'raw', f, raw);
    const got = readFileSync(raw);
    for (let i = 0; i < size; i++) {
      if (!unsure[i] && got[i] !== expect[i]) assert.fail(`stopped after ${k} writes: byte ${i} is ${got[i]}, acknowledged ${expect[i]}`);
    }
  }
});

test('a huge but valid virtual size (1 PiB) opens; writing at its end works', async () => {
  const p = tmp('huge.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', p, '1P');
  const d = await open(p);
  assert.equal(d.size, 2 ** 50);
  await d.writev([pattern(4096, 3)], 2 ** 50 - 4096);
  const back = new Uint8Array(4096);
  await d.readv([back], 2 ** 50 - 4096);
  assert.ok(Buffer.from(back).equals(Buffer.from(pattern(4096, 3))));
  await assert.rejects(d.readv([back], 2 ** 50 - 2048), /outside the disk/);
  await d.close();
  const c = check(p);
  assert.equal(c.code, 0, c.out);
  assert.ok(statSync(p).size < 64 << 20);
});
