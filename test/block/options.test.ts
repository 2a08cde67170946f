import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { blockdevDrives, driveSpec, parseBlockdev } from '../../src/block/drive-options.js';
import { BlockError } from '../../src/block/driver.js';
import { BlockBackend, type BlockIoErrorEvent } from '../../src/block/backend.js';
import { parseRunArgs } from '../../src/machine/options.js';
import { TSVMM } from '../helpers/console.js';
import { RawFile } from '../../src/block/raw-file.js';
import { rawImage, tmp } from './helpers.js';

test('-hda, -snapshot and -blockdev parse', () => {
  const c = parseRunArgs(['-hda', 'a.img', '-hdb', 'b.img', '-snapshot', '-blockdev', 'driver=file,node-name=f,filename=x']);
  assert.deepEqual(c.drives, [
    { file: 'a.img', index: '0', media: 'disk' },
    { file: 'b.img', index: '1', media: 'disk' },
  ]);
  assert.equal(c.snapshot, true);
  assert.deepEqual(c.blockdevs, ['driver=file,node-name=f,filename=x']);
});

test('driveSpec: defaults, cache and discard modes, -snapshot with an explicit snapshot=off winning, errors', () => {
  assert.deepEqual(driveSpec({ file: 'x' }, false), { file: 'x', format: undefined, readonly: false, cache: 'writeback', discard: 'ignore', snapshot: false, backing: undefined });
  const s = driveSpec({ file: 'x', format: 'qcow2', cache: 'unsafe', discard: 'unmap', readonly: 'on' }, true);
  assert.equal(s.cache, 'unsafe');
  assert.equal(s.discard, 'unmap');
  assert.equal(s.readonly, true);
  assert.equal(s.snapshot, true);
  assert.equal(driveSpec({ file: 'x', snapshot: 'off' }, true).snapshot, false);
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ file: 'x', foo: '1' }, /Block format 'raw' does not support the option 'foo'/],
    [{ file: 'x', format: 'vmdk' }, /format 'vmdk' is not supported/],
    [{ file: 'x', cache: 'bogus' }, /invalid cache option/],
    [{ file: 'x', discard: 'maybe' }, /invalid discard option/],
    [{ file: 'x', werror: 'stop' }, /werror=stop is not supported/],
    [{ file: 'x', media: 'cdrom' }, /media=cdrom/],
    [{ file: 'x', readonly: 'perhaps' }, /not on or off/],
    [{ if: 'none' }, /file= is required/],
  ];
  for (const [props, msg] of bad) assert.throws(() => driveSpec(props, false), (e: unknown) => e instanceof BlockError && msg.test(e.message), JSON.stringify(props));
});

test('-blockdev: inline file child, file node by name, JSON syntax, a bare file node, errors', () => {
  assert.deepEqual(blockdevDrives([parseBlockdev('driver=qcow2,node-name=q,file.driver=file,file.filename=a.qcow2,read-only=on')]), [
    { id: 'q', if: 'none', format: 'qcow2', readonly: 'on', file: 'a.qcow2' },
  ]);
  assert.deepEqual(blockdevDrives([parseBlockdev('driver=file,node-name=f,filename=b.img,cache.no-flush=on'), parseBlockdev('driver=raw,node-name=r,file=f')]), [
    { id: 'r', if: 'none', format: 'raw', file: 'b.img', cache: 'unsafe' },
  ]);
  assert.deepEqual(blockdevDrives([parseBlockdev('{"driver":"qcow2","node-name":"j","backing":null,"file":{"driver":"file","filename":"c.qcow2"}}')]), [
    { id: 'j', if: 'none', format: 'qcow2', backing: 'null', file: 'c.qcow2' },
  ]);
  assert.deepEqual(blockdevDrives([parseBlockdev('driver=file,node-name=f,filename=d.img')]), [{ id: 'f', if: 'none', format: 'raw', file: 'd.img' }]);
  const bad: Array<[string[], RegExp]> = [
    [['driver=qcow2,file.driver=file,file.filename=a'], /node-name is required/],
    [['driver=vmdk,node-name=v'], /driver 'vmdk' is not supported/],
    [['driver=qcow2,node-name=q,file=nope'], /file=nope is not a file node/],
    [['driver=qcow2,node-name=q'], /needs file=NODE/],
    [['driver=qcow2,node-name=q,file.driver=file,file.filename=a,backing=other'], /only backing=null/],
    [['driver=qcow2,node-name=q,file.driver=file,file.filename=a,bogus=1'], /unsupported option 'bogus'/],
    [['driver=file,node-name=a,filename=x', 'driver=file,node-name=a,filename=y'], /duplicate node name/],
  ];
  for (const [nodes, msg] of bad) assert.throws(() => blockdevDrives(nodes.map(parseBlockdev)), (e: unknown) => e instanceof BlockError && msg.test(e.message), nodes.join(' '));
});

test('BlockBackend error listeners see every failed request, with nospace for ENOSPC', async () => {
  class Full extends RawFile {
    override writev(): Promise<void> {
      return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    }
  }
  const b = new BlockBackend('disk0', new Full(rawImage(4096)), 'test');
  const seen: BlockIoErrorEvent[] = [];
  b.onError.add((e) => seen.push(e));
  b.onError.add(() => {
    throw new Error('a broken listener changes nothing');
  });
  await assert.rejects(b.writev([new Uint8Array(512)], 0), /ENOSPC/);
  assert.equal(seen[0]!.device, 'disk0');
  assert.equal(seen[0]!.operation, 'write');
  assert.equal(seen[0]!.nospace, true);
  assert.equal(seen[0]!.action, 'report');
});

test('CLI: a missing image without if= (and via -hda, -blockdev) is "Could not open" and exit 1 before the guest', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [TSVMM, 'run', '-nographic', ...args], { encoding: 'utf8', input: '', timeout: 60_000 });
  const missing = tmp('missing.img');
  for (const args of [['-drive', `file=${missing}`], ['-hda', missing], ['-blockdev', `driver=qcow2,node-name=q,file.driver=file,file.filename=${missing}`]]) {
    const r = run(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), new RegExp(`Could not open '${missing}': No such file or directory$`));
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.doesNotMatch(r.stdout, /U-Boot/);
  }
});

test('cache modes: unsafe ignores flushes, writeback/none fdatasync on flush, writethrough/directsync write O_DSYNC', async () => {
  const { constants } = await import('node:fs');
  for (const cache of ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const) {
    let syncs = 0;
    class Counting extends RawFile {
      override sync(): Promise<void> {
        syncs++;
        return super.sync();
      }
    }
    const f = new Counting(rawImage(8192), { cache });
    await f.writev([new Uint8Array(512).fill(1)], 0);
    await f.flush();
    assert.equal(syncs, cache === 'unsafe' ? 0 : 1, `${cache}: flush`);
    // O_DSYNC shows in /proc/self/fdinfo's flags.
    const fd = (f as unknown as { fd: number }).fd;
    const flags = parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    assert.equal((flags & constants.O_DSYNC) !== 0, cache === 'writethrough' || cache === 'directsync', `${cache}: O_DSYNC`);
    await f.close();
  }
});
