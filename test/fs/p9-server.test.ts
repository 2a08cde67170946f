import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osc } from 'node:os';
import { P9Server } from '../../src/fs/p9-server.js';
import * as W from '../../src/fs/p9-wire.js';
import { TestClient } from './p9-client.js';

const E = osc.errno;
const RDONLY = 0;
const WRONLY = 1;
const RDWR = 2;

/** An export with a file, a directory, and a sibling "outside" directory holding a secret. */
function setup(model: 'passthrough' | 'none' | 'mapped-file' = 'none', readonly = false): { root: string; outside: string; c: TestClient; s: P9Server } {
  const base = mkdtempSync(join(tmpdir(), 'tsvmm-9p-'));
  const root = join(base, 'export');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'dir'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'hello.txt'), 'hello from the host\n');
  writeFileSync(join(outside, 'secret'), 'secret');
  const s = new P9Server({ path: root, securityModel: model, readonly });
  const c = new TestClient(s);
  c.version();
  c.ok(c.attach(0));
  return { root, outside, c, s };
}

test('version, attach, walk, lopen, read, lcreate, write, mkdir, renameat, unlinkat, readdir, symlink, readlink', () => {
  const { root, c } = setup();
  c.ok(c.walk(0, 1, ['hello.txt']));
  c.ok(c.lopen(1, RDONLY));
  assert.equal(new TextDecoder().decode(c.read(1, 0, 4096)), 'hello from the host\n');
  assert.equal(new TextDecoder().decode(c.read(1, 6, 4)), 'from');
  c.ok(c.clunk(1));

  c.ok(c.walk(0, 2, []));
  c.ok(c.lcreate(2, 'new.bin', RDWR, 0o640));
  const data = new Uint8Array(60_000).map((_, i) => (i * 7) & 0xff);
  const wr = c.ok(c.write(2, 0, data));
  assert.equal(wr.body.getUint32(0, true), data.length);
  c.ok(c.clunk(2));
  assert.deepEqual(new Uint8Array(readFileSync(join(root, 'new.bin'))), data);
  assert.equal(statSync(join(root, 'new.bin')).mode & 0o777, 0o640);

  c.ok(c.mkdir(0, 'sub', 0o750));
  assert.ok(statSync(join(root, 'sub')).isDirectory());
  assert.equal(statSync(join(root, 'sub')).mode & 0o777, 0o750);
  c.ok(c.walk(0, 3, ['sub']));
  c.ok(c.renameat(0, 'new.bin', 3, 'moved.bin'));
  assert.ok(existsSync(join(root, 'sub', 'moved.bin')) && !existsSync(join(root, 'new.bin')));
  c.ok(c.symlink(3, 'ln', '/etc/passwd'));
  assert.equal(lstatSync(join(root, 'sub', 'ln')).isSymbolicLink(), true);
  c.ok(c.walk(3, 4, ['ln']));
  assert.equal(c.readlink(4), '/etc/passwd');
  c.ok(c.walk(0, 5, ['sub']));
  c.ok(c.lopen(5, RDONLY));
  assert.deepEqual(c.readdirNames(5).sort(), ['.', '..', 'ln', 'moved.bin']);
  c.ok(c.unlinkat(3, 'moved.bin'));
  c.ok(c.unlinkat(3, 'ln'));
  c.ok(c.unlinkat(0, 'sub', 0x200));
  assert.ok(!existsSync(join(root, 'sub')));
});

test('the export is a jail: .. past the root, symlinks out, a directory swapped for a symlink mid-walk, device nodes', () => {
  const { root, outside, c } = setup();
  // .. at the root stays at the root
  const r = c.ok(c.walk(0, 1, ['..', '..', 'hello.txt']));
  assert.equal(r.body.getUint16(0, true), 3);
  c.ok(c.lopen(1, RDONLY));
  assert.equal(new TextDecoder().decode(c.read(1, 0, 100)), 'hello from the host\n');
  assert.equal(c.ok(c.walk(0, 2, ['..', '..', 'outside', 'secret'])).body.getUint16(0, true), 2, 'the walk stops where the root has no "outside"');
  assert.equal(TestClient.errno(c.clunk(2)), E.EBADF, 'a partial walk makes no fid');
  // a symlink to a directory outside is never followed by a walk or an open
  symlinkSync(outside, join(root, 'out'));
  symlinkSync(join(outside, 'secret'), join(root, 'sec'));
  assert.equal(TestClient.errno(c.walk(0, 3, ['out', 'secret'])), 0, 'partial walk is not an error');
  assert.equal(c.walk(0, 3, ['out', 'secret']).body.getUint16(0, true), 1, 'stops at the symlink');
  c.ok(c.walk(0, 4, ['sec']));
  assert.equal(TestClient.errno(c.lopen(4, RDONLY)), E.ELOOP);
  assert.equal(TestClient.errno(c.lopen(4, RDWR)), E.ELOOP);
  c.ok(c.walk(0, 5, ['out']));
  assert.equal(TestClient.errno(c.lcreate(5, 'planted', RDWR)), E.ENOTDIR);
  assert.equal(TestClient.errno(c.mkdir(5, 'planted')), E.ENOTDIR);
  // a fid walked to dir/f, then dir swapped for a symlink to outside (a host-side race): nothing outside is touched
  writeFileSync(join(root, 'dir', 'secret'), 'inside');
  c.ok(c.walk(0, 6, ['dir', 'secret']));
  c.ok(c.walk(0, 7, ['dir']));
  renameSync(join(root, 'dir'), join(root, 'dir.old'));
  symlinkSync(outside, join(root, 'dir'));
  assert.equal(TestClient.errno(c.lopen(6, RDWR)), E.ENOTDIR);
  assert.notEqual(TestClient.errno(c.lcreate(7, 'x', RDWR)), 0);
  assert.notEqual(TestClient.errno(c.unlinkat(7, 'secret')), 0);
  assert.notEqual(TestClient.errno(c.t(W.P9_TSETATTR, (b) => b.u32(6).u32(W.SETATTR_SIZE).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0))), 0);
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'secret');
  assert.deepEqual(readdirSync(outside), ['secret']);
  // renames and links cannot name anything outside: names are single components
  assert.equal(TestClient.errno(c.renameat(0, 'hello.txt', 0, '../escaped')), E.ENOENT);
  assert.equal(TestClient.errno(c.t(W.P9_TLINK, (b) => b.u32(0).u32(4).str('../x'))), E.ENOENT);
  assert.equal(TestClient.errno(c.walk(0, 8, ['a/b'])), E.ENOENT);
  assert.equal(TestClient.errno(c.t(W.P9_TMKDIR, (b) => b.u32(0).str(new Uint8Array([0x61, 0, 0x62])).u32(0o755).u32(0))), E.EPROTO);
  // device nodes are not opened
  if (existsSync('/dev/null')) {
    // (the export cannot contain one made by the guest: mknod of devices is refused)
    assert.equal(TestClient.errno(c.t(W.P9_TMKNOD, (b) => b.u32(0).str('null').u32(0o020666).u32(1).u32(3).u32(0))), E.EPERM);
  }
  assert.ok(!existsSync(join(root, 'null')));
});

test('readonly=on refuses every change with EROFS and still serves reads', () => {
  const { root, c } = setup('none', true);
  c.ok(c.walk(0, 1, ['hello.txt']));
  assert.equal(TestClient.errno(c.lopen(1, WRONLY)), E.EROFS);
  assert.equal(TestClient.errno(c.lopen(1, RDONLY | 0o1000)), E.EROFS);
  c.ok(c.lopen(1, RDONLY));
  assert.equal(c.read(1, 0, 5).length, 5);
  assert.equal(TestClient.errno(c.write(1, 0, new Uint8Array(3))), E.EROFS);
  c.ok(c.walk(0, 2, []));
  assert.equal(TestClient.errno(c.lcreate(2, 'x', RDWR)), E.EROFS);
  assert.equal(TestClient.errno(c.mkdir(0, 'd')), E.EROFS);
  assert.equal(TestClient.errno(c.symlink(0, 's', 't')), E.EROFS);
  assert.equal(TestClient.errno(c.renameat(0, 'hello.txt', 0, 'y')), E.EROFS);
  assert.equal(TestClient.errno(c.unlinkat(0, 'hello.txt')), E.EROFS);
  assert.deepEqual(readdirSync(root).sort(), ['dir', 'hello.txt']);
});

test('security models: passthrough chowns to the guest, mapped-file keeps ownership in hidden metadata', () => {
  const pt = setup('passthrough');
  pt.c.ok(pt.c.attach(10, 1234));
  const mk = pt.c.t(W.P9_TMKDIR, (b) => b.u32(10).str('owned').u32(0o700).u32(4321));
  if (process.getuid?.() === 0) {
    const st = statSync(join(pt.root, 'owned'));
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 4321);
    assert.equal(st.mode & 0o7777, 0o700);
  } else {
    // passthrough needs a host user who may chown: the failure is reported and the entry is not left behind
    assert.equal(TestClient.errno(mk), E.EPERM);
    assert.ok(!existsSync(join(pt.root, 'owned')));
  }

  const m = setup('mapped-file');
  m.c.ok(m.c.attach(10, 1000));
  m.c.ok(m.c.t(W.P9_TMKDIR, (b) => b.u32(10).str('d').u32(0o755).u32(100)));
  m.c.ok(m.c.symlink(10, 'lnk', '/etc/shadow'));
  // on the host: private modes, no symlink, metadata hidden next to the entries
  assert.equal(statSync(join(m.root, 'd')).mode & 0o777, 0o700);
  assert.equal(lstatSync(join(m.root, 'lnk')).isFile(), true);
  assert.match(readFileSync(join(m.root, '.virtfs_metadata', 'd'), 'utf8'), /virtfs\.uid=1000\n/);
  // to the guest: its own owner and modes, a symlink, no metadata entries
  m.c.ok(m.c.walk(0, 11, ['d']));
  assert.deepEqual(m.c.getattr(11), { mode: 0o040755, uid: 1000, gid: 100, size: statSync(join(m.root, 'd')).size });
  m.c.ok(m.c.walk(0, 12, ['lnk']));
  assert.equal(m.c.getattr(12).mode & 0o170000, 0o120000);
  assert.equal(m.c.readlink(12), '/etc/shadow');
  assert.equal(TestClient.errno(m.c.lopen(12, RDONLY)), E.ELOOP);
  m.c.ok(m.c.t(W.P9_TSETATTR, (b) => b.u32(11).u32(W.SETATTR_MODE | W.SETATTR_UID).u32(0o711).u32(5).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0)));
  assert.equal(m.c.getattr(11).mode, 0o040711);
  assert.equal(m.c.getattr(11).uid, 5);
  m.c.ok(m.c.walk(0, 13, []));
  m.c.ok(m.c.lopen(13, RDONLY));
  assert.ok(!m.c.readdirNames(13).includes('.virtfs_metadata'));
  assert.equal(TestClient.errno(m.c.walk(0, 14, ['.virtfs_metadata'])), E.ENOENT);
  assert.equal(TestClient.errno(m.c.mkdir(0, '.virtfs_metadata')), E.EINVAL);
  m.c.ok(m.c.renameat(0, 'd', 0, 'e'));
  assert.equal(m.c.getattr(11).uid, 5, 'metadata follows a rename');
  m.c.ok(m.c.unlinkat(0, 'e', 0x200));
  assert.ok(!existsSync(join(m.root, '.virtfs_metadata', 'e')));
  assert.throws(() => new P9Server({ path: m.root, securityModel: 'mapped-xattr' }), /mapped-file/);
  rmSync(m.root, { recursive: true });
});

test('malformed and hostile messages get Rlerror with the right errno', () => {
  const { root, c, s } = setup();
  const before = readdirSync(root).sort();
  // bad sizes
  const good = new W.TBuilder(W.P9_TCLUNK, 9).u32(0).build();
  const short = good.slice(0, 9);
  assert.equal(TestClient.errno(c.raw(short)), E.EPROTO);
  const lying = good.slice();
  new DataView(lying.buffer).setUint32(0, 1 << 30, true);
  assert.equal(TestClient.errno(c.raw(lying)), E.EPROTO);
  assert.equal(TestClient.errno(c.raw(new Uint8Array(3))), E.EPROTO);
  const trailing = new W.TBuilder(W.P9_TCLUNK, 9).u32(0).u32(0).build();
  assert.equal(TestClient.errno(c.raw(trailing)), E.EPROTO);
  // unknown fids, reused fids
  assert.equal(TestClient.errno(c.clunk(77)), E.EBADF);
  assert.equal(TestClient.errno(c.attach(0)), E.EBADF);
  c.ok(c.walk(0, 1, []));
  assert.equal(TestClient.errno(c.walk(0, 1, ['hello.txt'])), E.EBADF);
  assert.equal(TestClient.errno(c.lopen(99, RDONLY)), E.EBADF);
  // huge counts are clamped to msize; too many walk names
  c.ok(c.walk(0, 2, ['hello.txt']));
  c.ok(c.lopen(2, RDONLY));
  assert.equal(c.read(2, 0, 0xffffffff).length, 20);
  assert.equal(c.read(2, Number.MAX_SAFE_INTEGER, 100).length, 0);
  assert.equal(TestClient.errno(c.walk(0, 3, new Array(17).fill('dir'))), E.E2BIG);
  assert.equal(TestClient.errno(c.t(W.P9_TREAD, (b) => b.u32(2).u64(0).u32(10).u32(0))), E.EPROTO);
  // an unknown message type and an R-message sent as a request
  assert.equal(TestClient.errno(c.raw(new W.TBuilder(200, 1).build())), E.EOPNOTSUPP);
  assert.equal(TestClient.errno(c.raw(new W.TBuilder(W.P9_RLERROR, 1).u32(5).build())), E.EOPNOTSUPP);
  // names with / or NUL, '.' and '..' as new names
  assert.equal(TestClient.errno(c.mkdir(0, 'a/b')), E.ENOENT);
  assert.equal(TestClient.errno(c.mkdir(0, '..')), E.EEXIST);
  assert.equal(TestClient.errno(c.unlinkat(0, '..')), E.ENOTEMPTY);
  assert.equal(TestClient.errno(c.t(W.P9_TWALK, (b) => b.u32(0).u32(5).u16(1).str(new Uint8Array([0x68, 0x00])))), E.EPROTO);
  assert.equal(TestClient.errno(c.t(W.P9_TWALK, (b) => b.u32(0).u32(5).u16(1).str(new Uint8Array([0xff, 0xfe])))), E.EPROTO);
  // a message bigger than msize
  c.version(4096);
  c.ok(c.attach(0));
  assert.equal(TestClient.errno(c.raw(new W.TBuilder(W.P9_TWRITE, 1).u32(0).u64(0).u32(5000).bytes(new Uint8Array(5000)).build())), E.EMSGSIZE);
  // a reply that does not fit the room the transport has: no reply rather than a truncated one
  assert.equal(s.handle(good, 8), null);
  // nothing on the host changed
  assert.deepEqual(readdirSync(root).sort(), before);
  assert.ok((s.stats.malformed['bad-size'] ?? 0) >= 3);
});

test('a flood of fids is bounded', () => {
  const { c, s } = setup();
  c.ok(c.walk(0, 1, ['hello.txt']));
  let opened = 0;
  for (let i = 0; i < 1100; i++) {
    c.ok(c.walk(0, 100 + i, ['hello.txt']));
    if (TestClient.errno(c.lopen(100 + i, RDONLY)) === E.EMFILE) break;
    opened++;
  }
  assert.equal(opened, 1024);
  s.resetSession();
  assert.equal(s.fidCount, 0);
});
