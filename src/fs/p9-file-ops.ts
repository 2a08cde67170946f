/**
 * 9P2000.L handlers for reaching and using files: walk, lopen, lcreate, read,
 * write, fsync and the (host-lock-free) lock requests.
 */
import { closeSync, constants as C, fdatasyncSync, fstatSync, fsyncSync, readSync, writeSync } from 'node:fs';
import { checkName, errno, errnoOf, FsError } from './jail.js';
import { created, newName, qidAt, withDir, withParent, writable, type P9Context, type TReq } from './p9-context.js';
import { DOTL, hostOpenFlags, openChildDir, qidOf } from './p9-host.js';
import { S_IFLNK, S_IFMT, S_IFREG } from './security-model.js';
import {
  P9_HDR,
  P9_MAXWELEM,
  P9_TFSYNC,
  P9_TGETLOCK,
  P9_TLCREATE,
  P9_TLOCK,
  P9_TLOPEN,
  P9_TREAD,
  P9_TWALK,
  P9_TWRITE,
  strSize,
  type Qid,
} from './p9-wire.js';

export function walk(c: P9Context, tag: number, fidNo: number, newfidNo: number, names: string[]): Uint8Array {
  const f = c.fids.get(fidNo);
  if (newfidNo !== fidNo && c.fids.has(newfidNo)) throw new FsError(errno.EBADF, `fid ${newfidNo} in use`);
  if (f.fd >= 0 && newfidNo === fidNo && names.length > 0) throw new FsError(errno.EBADF); // an open fid cannot move
  const comps = [...f.comps];
  const qids: Qid[] = [];
  let dir = -1;
  let error = 0;
  try {
    for (let i = 0; i < names.length && i < P9_MAXWELEM; i++) {
      const name = names[i]!;
      try {
        checkName(name);
        if (name === '..') {
          comps.pop(); // never above the root
          c.jail.release(dir);
          dir = -1;
          qids.push(withParent(c, comps, (d, n) => qidAt(c, d, n, d === null ? fstatSync(c.jail.rootFd) : c.jail.lstatAt(d, n!))));
          continue;
        }
        if (name === '.') {
          qids.push(withParent(c, comps, (d, n) => qidAt(c, d, n, d === null ? fstatSync(c.jail.rootFd) : c.jail.lstatAt(d, n!))));
          continue;
        }
        if (c.model.hidden(name, comps.length === 0)) throw new FsError(errno.ENOENT);
        if (dir < 0) dir = c.jail.openDir(comps);
        const st = c.jail.lstatAt(dir, name);
        comps.push(name);
        qids.push(qidAt(c, dir, name, st));
        if (i + 1 < names.length) {
          // The next name is looked up in this entry: it has to be a real directory (a symlink is never followed).
          if (!st.isDirectory()) throw new FsError(errno.ENOTDIR);
          const child = openChildDir(c.jail, dir, name);
          c.jail.release(dir);
          dir = child;
        }
      } catch (e) {
        error = errnoOf(e);
        break;
      }
    }
  } finally {
    c.jail.release(dir);
  }
  // The first name failing is an error; a later one is a partial walk, and newfid is not made.
  if (error && qids.length === 0) throw new FsError(error);
  if (qids.length === names.length) {
    if (newfidNo === fidNo) f.comps = comps;
    else c.fids.add(newfidNo, f, comps);
  }
  const w = c.w.begin(P9_TWALK + 1, tag).u16(qids.length);
  for (const q of qids) w.qid(q);
  return w.finish();
}

export function lopen(c: P9Context, tag: number, fidNo: number, flags: number): Uint8Array {
  const f = c.fids.get(fidNo);
  if (f.fd >= 0 || f.xattr) throw new FsError(errno.EBADF);
  if (c.readonly && ((flags & DOTL.ACCMODE) !== 0 || flags & DOTL.TRUNC)) throw new FsError(errno.EROFS);
  c.fids.checkOpenRoom();
  const { fd, qid } = withParent(c, f.comps, (dir, name) => {
    const st = dir === null ? fstatSync(c.jail.rootFd) : c.jail.lstatAt(dir, name!);
    const view = c.model.view(dir, name, st);
    if ((view.mode & S_IFMT) === S_IFLNK) throw new FsError(errno.ELOOP);
    let h = hostOpenFlags(flags);
    if (st.isDirectory()) h = (h & ~(DOTL.ACCMODE | C.O_TRUNC | C.O_APPEND)) | C.O_RDONLY;
    const fd = dir === null ? c.jail.openObject(c.jail.rootFd, null, h) : c.jail.openObject(dir, name!, h);
    return { fd, qid: qidOf(fstatSync(fd), view.mode) };
  });
  f.fd = fd;
  f.openFlags = flags;
  f.entries = null;
  c.fids.opened();
  return c.w.begin(P9_TLOPEN + 1, tag).qid(qid).u32(0).finish();
}

export function lcreate(c: P9Context, tag: number, fidNo: number, name: string, flags: number, mode: number, gid: number): Uint8Array {
  writable(c);
  const f = c.fids.get(fidNo);
  if (f.fd >= 0 || f.xattr) throw new FsError(errno.EBADF);
  newName(c, name, f.comps.length === 0);
  c.fids.checkOpenRoom();
  const { fd, qid } = withDir(c, f, (dir) => {
    const h = (hostOpenFlags(flags) & ~C.O_DIRECTORY) | C.O_CREAT | C.O_EXCL;
    const fd = c.jail.openObject(dir, name, h, c.model.hostMode(mode, 'file'));
    try {
      created(c, dir, name, { uid: f.uid, gid, mode: S_IFREG | (mode & 0o7777), rdev: 0 }, false);
      const st = fstatSync(fd);
      return { fd, qid: qidOf(st, S_IFREG) };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  });
  f.comps = [...f.comps, name];
  f.fd = fd;
  f.openFlags = flags;
  c.fids.opened();
  return c.w.begin(P9_TLCREATE + 1, tag).qid(qid).u32(0).finish();
}

export function read(c: P9Context, tag: number, fidNo: number, offset: number, count: number, limit: number): Uint8Array {
  const f = c.fids.get(fidNo);
  const n = Math.min(count, limit - P9_HDR - 4);
  const w = c.w.begin(P9_TREAD + 1, tag);
  if (f.xattr) {
    const part = f.xattr.subarray(Math.min(offset, f.xattr.length), Math.min(offset + n, f.xattr.length));
    w.u32(part.length);
    w.reserve(part.length).set(part);
    return w.finish();
  }
  if (f.fd < 0 || (f.openFlags & DOTL.ACCMODE) === 1) throw new FsError(errno.EBADF);
  const at = w.pos;
  w.u32(0);
  const buf = w.reserve(n);
  let done = 0;
  while (done < n) {
    const got = readSync(f.fd, buf, done, n - done, offset + done);
    if (got <= 0) break;
    done += got;
  }
  w.pos = at;
  w.u32(done);
  w.pos += done;
  return w.finish();
}

export function write(c: P9Context, r: TReq<typeof P9_TWRITE>): Uint8Array {
  writable(c);
  const f = c.fids.get(r.fid);
  if (f.fd < 0 || (f.openFlags & DOTL.ACCMODE) === 0) throw new FsError(errno.EBADF);
  let done = 0;
  while (done < r.data.length) {
    const n = writeSync(f.fd, r.data, done, r.data.length - done, (f.openFlags & DOTL.APPEND) !== 0 ? null : r.offset + done);
    if (n <= 0) break;
    done += n;
  }
  return c.w.begin(r.type + 1, r.tag).u32(done).finish();
}

export function fsync(c: P9Context, r: TReq<typeof P9_TFSYNC>): Uint8Array {
  const f = c.fids.get(r.fid);
  if (f.fd < 0) throw new FsError(errno.EBADF);
  if (r.datasync) fdatasyncSync(f.fd);
  else fsyncSync(f.fd);
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function lock(c: P9Context, r: TReq<typeof P9_TLOCK>): Uint8Array {
  c.fids.get(r.fid);
  // As QEMU: locks are granted without host locking (the guest kernel keeps its own POSIX lock state).
  return c.w.begin(r.type + 1, r.tag).u8(0).finish();
}

export function getlock(c: P9Context, r: TReq<typeof P9_TGETLOCK>, limit: number): Uint8Array {
  c.fids.get(r.fid);
  if (P9_HDR + 1 + 8 + 8 + 4 + strSize(r.clientId) > limit) throw new FsError(errno.EMSGSIZE);
  return c.w.begin(r.type + 1, r.tag).u8(2).u64(r.start).u64(r.length).u32(r.procId).str(r.clientId).finish();
}
