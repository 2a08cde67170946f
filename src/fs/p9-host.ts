/**
 * Host-side pieces of the 9P server that do not need its fid table: qids,
 * open-flag mapping, directory listings and attribute changes. Every host
 * access goes through the export jail (jail.ts).
 */
import {
  closeSync,
  constants as C,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  openSync,
  readdirSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import { errno, errnoOf, ExportJail, FsError, magic, O_PATH } from './jail.js';
import { PassthroughModel, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type SecurityModel } from './security-model.js';
import {
  P9_TSETATTR,
  QTDIR,
  QTFILE,
  QTSYMLINK,
  SETATTR_ATIME,
  SETATTR_ATIME_SET,
  SETATTR_GID,
  SETATTR_MODE,
  SETATTR_MTIME,
  SETATTR_MTIME_SET,
  SETATTR_SIZE,
  SETATTR_UID,
  type Qid,
  type TRequest,
} from './p9-wire.js';

/** Linux open flags as 9P2000.L encodes them (the generic Linux values). */
export const DOTL = {
  ACCMODE: 3,
  CREATE: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  DSYNC: 0o10000,
  DIRECTORY: 0o200000,
  SYNC: 0o4000000,
};

export interface Fid {
  /** Path from the export root, one validated component per element. */
  comps: string[];
  /** Host descriptor after lopen/lcreate, else -1. */
  fd: number;
  openFlags: number;
  uid: number;
  /** Directory listing taken at readdir offset 0. */
  entries: DirEntry[] | null;
  /** An xattr fid's value (from xattrwalk). */
  xattr: Uint8Array | null;
}

export interface DirEntry {
  name: string;
  qid: Qid;
  dtype: number;
}

export function qidOf(st: Stats, mode = st.mode): Qid {
  const fmt = mode & S_IFMT;
  const type = fmt === S_IFDIR ? QTDIR : fmt === S_IFLNK ? QTSYMLINK : QTFILE;
  // The version changes when the contents may have (mtime and size), which cache=loose clients use.
  const version = (Math.floor(st.mtimeMs) ^ st.size) >>> 0;
  return { type, version, path: st.ino };
}

export function dtypeOf(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 4;
    case S_IFLNK:
      return 10;
    case S_IFREG:
      return 8;
    case 0o020000:
      return 2;
    case 0o060000:
      return 6;
    case 0o010000:
      return 1;
    case 0o140000:
      return 12;
    default:
      return 0;
  }
}

export function hostOpenFlags(flags: number): number {
  let h = flags & DOTL.ACCMODE;
  if (flags & DOTL.TRUNC) h |= C.O_TRUNC;
  if (flags & DOTL.APPEND) h |= C.O_APPEND;
  if (flags & DOTL.DSYNC) h |= C.O_DSYNC;
  if ((flags & DOTL.SYNC) === DOTL.SYNC) h |= C.O_SYNC;
  if (flags & DOTL.DIRECTORY) h |= C.O_DIRECTORY;
  // O_DIRECT, O_NOATIME, O_ASYNC, O_NOCTTY, O_CLOEXEC and O_CREAT are the client's business, not the host's.
  return h;
}


export function listDirectory(jail: ExportJail, model: SecurityModel, f: Fid, parent: Stats | null): DirEntry[] {
  const st = fstatSync(f.fd);
  if (!st.isDirectory()) throw new FsError(errno.ENOTDIR);
  const atRoot = f.comps.length === 0;
  const out: DirEntry[] = [{ name: '.', qid: qidOf(st), dtype: 4 }];
  out.push({ name: '..', qid: qidOf(parent ?? st), dtype: 4 });
  for (const name of readdirSync(magic(f.fd))) {
    if (model.hidden(name, atRoot)) continue;
    let s: Stats;
    try {
      s = lstatSync(jail.at(f.fd, name));
    } catch {
      continue; // removed meanwhile
    }
    const mode = model.mappedSymlinks ? model.view(f.fd, name, s).mode : s.mode;
    out.push({ name, qid: qidOf(s, mode), dtype: dtypeOf(mode) });
  }
  return out;
}


export function applySetattr(
  jail: ExportJail,
  model: SecurityModel,
  f: Fid,
  dir: number | null,
  name: string | null,
  st: Stats,
  r: Extract<TRequest, { type: typeof P9_TSETATTR }>,
): void {
  const isLink = st.isSymbolicLink();
  // Non-symlinks are changed through their own descriptor's magic link (the exact inode); symlinks by name, never followed.
  let objFd = f.fd;
  let own = false;
  if (objFd < 0 && !isLink) {
    objFd = dir === null ? jail.rootFd : openSync(jail.at(dir, name!), O_PATH | C.O_NOFOLLOW);
    own = dir !== null;
  }
  try {
    const objPath = isLink ? jail.at(dir!, name!) : magic(objFd);
    if (!isLink) {
      const cur = fstatSync(objFd);
      if (cur.ino !== st.ino || cur.dev !== st.dev) throw new FsError(errno.EAGAIN);
    }
    const change: { uid?: number; gid?: number; mode?: number } = {};
    if (r.valid & SETATTR_MODE) change.mode = r.mode;
    if (r.valid & SETATTR_UID) change.uid = r.uid;
    if (r.valid & SETATTR_GID) change.gid = r.gid;
    if (change.mode !== undefined || change.uid !== undefined || change.gid !== undefined) {
      if (f.fd >= 0 && change.mode !== undefined && model instanceof PassthroughModel && change.uid === undefined && change.gid === undefined) {
        fchmodSync(f.fd, change.mode & 0o7777);
      } else model.setCred(dir, name, st, change, objPath, isLink);
    }
    if (r.valid & SETATTR_SIZE) {
      if (!st.isFile()) throw new FsError(st.isDirectory() ? errno.EISDIR : errno.EINVAL);
      if (f.fd >= 0 && (f.openFlags & DOTL.ACCMODE) !== 0) ftruncateSync(f.fd, r.size);
      else {
        const wfd = openSync(magic(objFd), C.O_WRONLY);
        try {
          ftruncateSync(wfd, r.size);
        } finally {
          closeSync(wfd);
        }
      }
    }
    if (r.valid & (SETATTR_ATIME | SETATTR_MTIME)) {
      const now = Date.now() / 1000;
      const at = r.valid & SETATTR_ATIME ? (r.valid & SETATTR_ATIME_SET ? r.atimeSec + r.atimeNsec / 1e9 : now) : st.atimeMs / 1000;
      const mt = r.valid & SETATTR_MTIME ? (r.valid & SETATTR_MTIME_SET ? r.mtimeSec + r.mtimeNsec / 1e9 : now) : st.mtimeMs / 1000;
      if (isLink) lutimesSync(objPath, at, mt);
      else if (f.fd >= 0) futimesSync(f.fd, at, mt);
      else utimesSync(objPath, at, mt);
    }
  } finally {
    if (own) closeSync(objFd);
  }
}

/** Open `name` in `dir` as the next directory of a walk (symlinks refused). */
export function openChildDir(jail: ExportJail, dir: number, name: string): number {
  try {
    const fd = openSync(jail.at(dir, name), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    jail.checkInside(fd);
    return fd;
  } catch (e) {
    const n = errnoOf(e);
    throw new FsError(n === errno.ELOOP ? errno.ENOTDIR : n);
  }
}

/** A symlink target is stored, never followed by the server; it only has to be a sane string. */
export function checkTarget(t: string): void {
  if (t.length === 0) throw new FsError(errno.ENOENT);
  if (t.length > 4095 || t.includes('\0')) throw new FsError(errno.ENAMETOOLONG);
}
