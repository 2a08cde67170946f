/**
 * 9P2000.L handlers for directories and their entries: readdir, creating
 * entries (mkdir, symlink, mknod, link), renames (which re-point the fids
 * below the moved entry) and removal (unlinkat, remove).
 */
import { closeSync, constants as C, fstatSync, linkSync, mkdirSync, openSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { checkName, errno, FsError } from './jail.js';
import { created, newName, qidAt, withDir, withParent, writable, type P9Context, type TReq } from './p9-context.js';
import { checkTarget, listDirectory, type DirEntry, type Fid } from './p9-host.js';
import { MappedFileModel, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './security-model.js';
import {
  P9_HDR,
  P9_TLINK,
  P9_TMKDIR,
  P9_TMKNOD,
  P9_TREADDIR,
  P9_TREMOVE,
  P9_TRENAME,
  P9_TRENAMEAT,
  P9_TSYMLINK,
  P9_TUNLINKAT,
  strSize,
} from './p9-wire.js';

const AT_REMOVEDIR = 0x200;

function listDir(c: P9Context, f: Fid): DirEntry[] {
  const parent =
    f.comps.length === 0 ? null : withParent(c, f.comps.slice(0, -1), (d, n) => (d === null ? fstatSync(c.jail.rootFd) : c.jail.lstatAt(d, n!)));
  return listDirectory(c.jail, c.model, f, parent);
}

export function readdir(c: P9Context, tag: number, fidNo: number, offset: number, count: number, limit: number): Uint8Array {
  const f = c.fids.get(fidNo);
  if (f.fd < 0) throw new FsError(errno.EBADF);
  if (offset === 0 || !f.entries) f.entries = listDir(c, f);
  const room = Math.min(count, limit - P9_HDR - 4);
  const w = c.w.begin(P9_TREADDIR + 1, tag);
  const at = w.pos;
  w.u32(0);
  const start = w.pos;
  for (let i = offset; i < f.entries.length; i++) {
    const e = f.entries[i]!;
    const size = 13 + 8 + 1 + strSize(e.name);
    if (w.pos - start + size > room) break;
    w.qid(e.qid).u64(i + 1).u8(e.dtype).str(e.name);
  }
  const used = w.pos - start;
  w.pos = at;
  w.u32(used);
  w.pos = start + used;
  return w.finish();
}

export function symlink(c: P9Context, r: TReq<typeof P9_TSYMLINK>): Uint8Array {
  writable(c);
  const f = c.fids.get(r.fid);
  newName(c, r.name, f.comps.length === 0);
  checkTarget(r.target);
  const qid = withDir(c, f, (dir) => {
    const cred = { uid: f.uid, gid: r.gid, mode: S_IFLNK | 0o777, rdev: 0 };
    if (c.model.mappedSymlinks) {
      const fd = openSync(c.jail.at(dir, r.name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, c.model.hostMode(0o777, 'file'));
      try {
        writeSync(fd, Buffer.from(r.target));
      } finally {
        closeSync(fd);
      }
    } else symlinkSync(r.target, c.jail.at(dir, r.name));
    created(c, dir, r.name, cred, true);
    return qidAt(c, dir, r.name, c.jail.lstatAt(dir, r.name));
  });
  return c.w.begin(r.type + 1, r.tag).qid(qid).finish();
}

export function mknod(c: P9Context, r: TReq<typeof P9_TMKNOD>): Uint8Array {
  writable(c);
  const f = c.fids.get(r.fid);
  newName(c, r.name, f.comps.length === 0);
  const fmt = r.mode & S_IFMT;
  // Device nodes, FIFOs and sockets never appear on the host: only mapped-file can represent them (as regular files).
  if (!c.model.mappedSymlinks && fmt !== S_IFREG) throw new FsError(errno.EPERM);
  const qid = withDir(c, f, (dir) => {
    closeSync(openSync(c.jail.at(dir, r.name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, c.model.hostMode(r.mode, 'file')));
    const rdev = (((r.major & 0xfff) << 8) | (r.minor & 0xff) | ((r.minor & ~0xff) << 12)) >>> 0;
    created(c, dir, r.name, { uid: f.uid, gid: r.gid, mode: fmt === 0 ? S_IFREG | (r.mode & 0o7777) : r.mode, rdev }, false);
    return qidAt(c, dir, r.name, c.jail.lstatAt(dir, r.name));
  });
  return c.w.begin(r.type + 1, r.tag).qid(qid).finish();
}

export function link(c: P9Context, r: TReq<typeof P9_TLINK>): Uint8Array {
  writable(c);
  const d = c.fids.get(r.dfid);
  const f = c.fids.get(r.fid);
  newName(c, r.name, d.comps.length === 0);
  withParent(c, f.comps, (sdir, sname) => {
    if (sdir === null || sname === null) throw new FsError(errno.EPERM);
    withDir(c, d, (dir) => linkSync(c.jail.at(sdir, sname), c.jail.at(dir, r.name)));
  });
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function mkdir(c: P9Context, r: TReq<typeof P9_TMKDIR>): Uint8Array {
  writable(c);
  const d = c.fids.get(r.dfid);
  newName(c, r.name, d.comps.length === 0);
  const qid = withDir(c, d, (dir) => {
    mkdirSync(c.jail.at(dir, r.name), c.model.hostMode(r.mode, 'dir'));
    created(c, dir, r.name, { uid: d.uid, gid: r.gid, mode: S_IFDIR | (r.mode & 0o7777), rdev: 0 }, false);
    return qidAt(c, dir, r.name, c.jail.lstatAt(dir, r.name));
  });
  return c.w.begin(r.type + 1, r.tag).qid(qid).finish();
}

export function rename(c: P9Context, r: TReq<typeof P9_TRENAME>): Uint8Array {
  writable(c);
  const f = c.fids.get(r.fid);
  const d = c.fids.get(r.dfid);
  if (f.comps.length === 0) throw new FsError(errno.EBUSY);
  newName(c, r.name, d.comps.length === 0);
  renameEntry(c, f.comps.slice(0, -1), f.comps[f.comps.length - 1]!, d.comps, r.name);
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function renameat(c: P9Context, r: TReq<typeof P9_TRENAMEAT>): Uint8Array {
  writable(c);
  const od = c.fids.get(r.olddirfid);
  const nd = c.fids.get(r.newdirfid);
  checkName(r.oldname);
  if (r.oldname === '.' || r.oldname === '..' || c.model.hidden(r.oldname, od.comps.length === 0)) throw new FsError(errno.EINVAL);
  newName(c, r.newname, nd.comps.length === 0);
  renameEntry(c, od.comps, r.oldname, nd.comps, r.newname);
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function unlinkat(c: P9Context, r: TReq<typeof P9_TUNLINKAT>): Uint8Array {
  writable(c);
  const d = c.fids.get(r.dirfid);
  checkName(r.name);
  if (r.name === '.') throw new FsError(errno.EINVAL);
  if (r.name === '..') throw new FsError(errno.ENOTEMPTY);
  if (c.model.hidden(r.name, d.comps.length === 0)) throw new FsError(errno.ENOENT);
  withDir(c, d, (dir) => unlinkIn(c, dir, r.name, (r.flags & AT_REMOVEDIR) !== 0));
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function remove(c: P9Context, r: TReq<typeof P9_TREMOVE>): Uint8Array {
  const f = c.fids.get(r.fid);
  // The fid is clunked whether or not the remove succeeds (9P's rule).
  c.fids.close(f);
  c.fids.delete(r.fid);
  writable(c);
  if (f.comps.length === 0) throw new FsError(errno.EBUSY);
  withParent(c, f.comps, (dir, name) => unlinkIn(c, dir!, name!, c.jail.lstatAt(dir!, name!).isDirectory()));
  return c.w.begin(r.type + 1, r.tag).finish();
}

function unlinkIn(c: P9Context, dir: number, name: string, isDir: boolean): void {
  const st = c.jail.lstatAt(dir, name);
  if (isDir && !st.isDirectory()) throw new FsError(errno.ENOTDIR);
  if (isDir) {
    if (c.model instanceof MappedFileModel) c.model.beforeRmdir(c.jail.at(dir, name));
    rmdirSync(c.jail.at(dir, name));
  } else {
    if (st.isDirectory()) throw new FsError(errno.EISDIR);
    unlinkSync(c.jail.at(dir, name));
  }
  c.model.removed(dir, name, isDir, '');
}

function renameEntry(c: P9Context, oldDirComps: string[], oldName: string, newDirComps: string[], newEntry: string): void {
  const od = c.jail.openDir(oldDirComps);
  try {
    const nd = c.jail.openDir(newDirComps);
    try {
      renameSync(c.jail.at(od, oldName), c.jail.at(nd, newEntry));
      c.model.renamed(od, oldName, nd, newEntry);
    } finally {
      c.jail.release(nd);
    }
  } finally {
    c.jail.release(od);
  }
  // Fids at or below the old path now name the new one.
  c.fids.moved([...oldDirComps, oldName], [...newDirComps, newEntry]);
}
