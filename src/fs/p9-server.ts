/**
 * A 9P2000.L file server over one host directory (QEMU's `-fsdev local`).
 *
 * Transport-independent: `handle(request, replyRoom)` takes one T-message
 * and returns the R-message (a view of a reused buffer). Requests are served
 * one at a time, synchronously, so no request can change the export between
 * another's checks and its action; a reply is always produced (Rlerror with
 * an errno for anything that fails), and no exception leaves `handle`.
 *
 * Fids name paths relative to the export (component lists), never host
 * paths; every host access goes through ExportJail (see jail.ts). Renames
 * rewrite the paths of fids below the renamed entry, as QEMU does.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants as C,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  lchownSync,
  linkSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { checkName, errno, errnoOf, ExportJail, FsError, magic } from './jail.js';
import { applySetattr, checkTarget, DOTL, hostOpenFlags, listDirectory, openChildDir, qidOf, type DirEntry, type Fid } from './p9-host.js';
import { MappedFileModel, PassthroughModel, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type SecurityModel, type SecurityModelName } from './security-model.js';
import {
  GETATTR_BASIC,
  P9_HDR,
  P9_MAXWELEM,
  P9_NOFID,
  P9_RLERROR,
  P9_TATTACH,
  P9_TAUTH,
  P9_TCLUNK,
  P9_TFLUSH,
  P9_TFSYNC,
  P9_TGETATTR,
  P9_TGETLOCK,
  P9_TLCREATE,
  P9_TLINK,
  P9_TLOCK,
  P9_TLOPEN,
  P9_TMKDIR,
  P9_TMKNOD,
  P9_TREAD,
  P9_TREADDIR,
  P9_TREADLINK,
  P9_TREMOVE,
  P9_TRENAME,
  P9_TRENAMEAT,
  P9_TSETATTR,
  P9_TSTATFS,
  P9_TSYMLINK,
  P9_TUNLINKAT,
  P9_TVERSION,
  P9_TWALK,
  P9_TWRITE,
  P9_TXATTRCREATE,
  P9_TXATTRWALK,
  parseTMessage,
  RWriter,
  strSize,
  type ParseFailure,
  type Qid,
  type TRequest,
} from './p9-wire.js';

export interface P9ServerOptions {
  path: string;
  securityModel: SecurityModelName;
  readonly?: boolean;
  /** Largest msize offered (the client may ask for less). */
  maxMsize?: number;
}

/** Upper bounds that keep a hostile client from exhausting host memory or descriptors. */
export const MAX_FIDS = 65536;
export const MAX_OPEN = 1024;
export const DEFAULT_MAX_MSIZE = 512 * 1024;
/** Smallest msize we accept (room for a header and a few fields). */
const MIN_MSIZE = 4096;
const AT_REMOVEDIR = 0x200;

export interface P9Stats {
  requests: number;
  errors: number;
  /** Malformed messages by reason. */
  malformed: Partial<Record<ParseFailure, number>>;
}

export class P9Server {
  readonly jail: ExportJail;
  readonly model: SecurityModel;
  readonly readonly: boolean;
  readonly maxMsize: number;
  msize = DEFAULT_MAX_MSIZE;
  private readonly fids = new Map<number, Fid>();
  private openCount = 0;
  private readonly reply: Uint8Array;
  private readonly w: RWriter;
  readonly stats: P9Stats = { requests: 0, errors: 0, malformed: {} };
  constructor(opts: P9ServerOptions) {
    if (opts.securityModel === 'mapped-xattr') {
      throw new FsError(errno.EOPNOTSUPP, 'security_model=mapped-xattr needs extended attributes, which Node.js cannot set without a native addon; use security_model=mapped-file (the same mapping kept in .virtfs_metadata files)');
    }
    this.jail = new ExportJail(opts.path);
    this.readonly = opts.readonly ?? false;
    this.maxMsize = Math.max(MIN_MSIZE, opts.maxMsize ?? DEFAULT_MAX_MSIZE);
    this.msize = this.maxMsize;
    this.reply = new Uint8Array(this.maxMsize);
    this.w = new RWriter(this.reply);
    const chown = (p: string, uid: number, gid: number, nofollow: boolean): void => (nofollow ? lchownSync(p, uid, gid) : chownSync(p, uid, gid));
    this.model =
      opts.securityModel === 'mapped-file'
        ? new MappedFileModel(this.jail)
        : new PassthroughModel(opts.securityModel, this.jail, chown, (p, m) => chmodSync(p, m));
  }

  /** Number of live fids (tests). */
  get fidCount(): number {
    return this.fids.size;
  }

  /** Forget every fid and close every descriptor (device reset, Tversion). */
  resetSession(): void {
    for (const f of this.fids.values()) this.closeFid(f);
    this.fids.clear();
  }
  close(): void {
    this.resetSession();
    this.jail.close();
  }

  /**
   * Serve one T-message. `room` is how many reply bytes the transport can
   * deliver; replies are sized to fit min(room, msize). Returns null only
   * when even an Rlerror does not fit (room < 11).
   */
  handle(msg: Uint8Array, room: number): Uint8Array | null {
    this.stats.requests++;
    const limit = Math.min(room, this.msize, this.reply.length);
    if (limit < P9_HDR + 4) return null;
    const parsed = parseTMessage(msg, Math.max(this.msize, MIN_MSIZE));
    if (!parsed.ok) {
      this.stats.malformed[parsed.reason] = (this.stats.malformed[parsed.reason] ?? 0) + 1;
      const e = parsed.reason === 'unknown-type' ? errno.EOPNOTSUPP : parsed.reason === 'too-big' ? errno.EMSGSIZE : parsed.reason === 'too-many-names' ? errno.E2BIG : errno.EPROTO;
      return this.lerror(parsed.tag, e);
    }
    try {
      return this.dispatch(parsed.req, limit);
    } catch (e) {
      return this.lerror(parsed.req.tag, errnoOf(e));
    }
  }
  private lerror(tag: number, e: number): Uint8Array {
    this.stats.errors++;
    return this.w.begin(P9_RLERROR, tag).u32(e).finish();
  }
  private fid(n: number): Fid {
    const f = this.fids.get(n);
    if (!f) throw new FsError(errno.EBADF, `unknown fid ${n}`);
    return f;
  }
  private newFid(n: number, from: Fid | null, comps: string[]): Fid {
    if (n === P9_NOFID) throw new FsError(errno.EBADF);
    if (this.fids.has(n)) throw new FsError(errno.EBADF, `fid ${n} in use`);
    if (this.fids.size >= MAX_FIDS) throw new FsError(errno.EMFILE);
    const f: Fid = { comps, fd: -1, openFlags: 0, uid: from?.uid ?? 0, entries: null, xattr: null };
    this.fids.set(n, f);
    return f;
  }
  private closeFid(f: Fid): void {
    if (f.fd >= 0) {
      try {
        closeSync(f.fd);
      } catch {
        /* already gone */
      }
      this.openCount--;
      f.fd = -1;
    }
  }
  private writable(): void {
    if (this.readonly) throw new FsError(errno.EROFS);
  }

  /** Run `fn` with the parent directory handle and last name of `comps` (null, null for the root). */
  private withParent<T>(comps: readonly string[], fn: (dir: number | null, name: string | null) => T): T {
    if (comps.length === 0) return fn(null, null);
    const dir = this.jail.openDir(comps, comps.length - 1);
    try {
      return fn(dir, comps[comps.length - 1]!);
    } finally {
      this.jail.release(dir);
    }
  }
  private withDir<T>(f: Fid, fn: (dir: number) => T): T {
    const dir = this.jail.openDir(f.comps);
    try {
      return fn(dir);
    } finally {
      this.jail.release(dir);
    }
  }
  private statOf(f: Fid, dir: number | null, name: string | null): Stats {
    if (f.fd >= 0) return fstatSync(f.fd);
    if (dir === null || name === null) return fstatSync(this.jail.rootFd);
    return this.jail.lstatAt(dir, name);
  }
  private qidAt(dir: number | null, name: string | null, st: Stats): Qid {
    return qidOf(st, this.model.mappedSymlinks ? this.model.view(dir, name, st).mode : st.mode);
  }

  /** A name the guest creates: legal, not a metadata name, not `.`/`..`. */
  private newName(name: string, atRoot: boolean): void {
    checkName(name);
    if (name === '.' || name === '..') throw new FsError(errno.EEXIST);
    if (this.model.hidden(name, atRoot)) throw new FsError(errno.EINVAL);
  }
  private setattr(f: Fid, r: Extract<TRequest, { type: typeof P9_TSETATTR }>): void {
    if (r.valid === 0) return;
    this.writable();
    this.withParent(f.comps, (dir, name) => applySetattr(this.jail, this.model, f, dir, name, this.statOf(f, dir, name), r));
  }
  private listDir(f: Fid): DirEntry[] {
    const parent =
      f.comps.length === 0 ? null : this.withParent(f.comps.slice(0, -1), (d, n) => (d === null ? fstatSync(this.jail.rootFd) : this.jail.lstatAt(d, n!)));
    return listDirectory(this.jail, this.model, f, parent);
  }
  private dispatch(r: TRequest, limit: number): Uint8Array {
    const w = this.w;
    switch (r.type) {
      case P9_TVERSION: {
        this.resetSession();
        // Any client msize at least MIN_MSIZE is honoured up to ours; below that the session cannot work.
        if (r.msize < MIN_MSIZE) throw new FsError(errno.EINVAL);
        this.msize = Math.min(r.msize, this.maxMsize);
        const v = r.version === '9P2000.L' ? '9P2000.L' : 'unknown';
        return w.begin(r.type + 1, r.tag).u32(this.msize).str(v).finish();
      }
      case P9_TAUTH:
        throw new FsError(errno.EOPNOTSUPP);
      case P9_TATTACH: {
        const st = fstatSync(this.jail.rootFd);
        const f = this.newFid(r.fid, null, []);
        f.uid = r.nUname === P9_NOFID ? 0 : r.nUname;
        return w.begin(r.type + 1, r.tag).qid(this.qidAt(null, null, st)).finish();
      }
      case P9_TFLUSH:
        // Requests complete in order before the next is read: the flushed one has already been answered.
        return w.begin(r.type + 1, r.tag).finish();
      case P9_TWALK:
        return this.walk(r.tag, r.fid, r.newfid, r.names);
      case P9_TCLUNK: {
        const f = this.fid(r.fid);
        this.closeFid(f);
        this.fids.delete(r.fid);
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TREMOVE: {
        const f = this.fid(r.fid);
        // The fid is clunked whether or not the remove succeeds (9P's rule).
        this.closeFid(f);
        this.fids.delete(r.fid);
        this.writable();
        if (f.comps.length === 0) throw new FsError(errno.EBUSY);
        this.withParent(f.comps, (dir, name) => this.unlinkIn(dir!, name!, this.jail.lstatAt(dir!, name!).isDirectory()));
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TSTATFS: {
        this.fid(r.fid);
        const s = statfsSync(magic(this.jail.rootFd));
        return w
          .begin(r.type + 1, r.tag)
          .u32(s.type)
          .u32(s.bsize)
          .u64(s.blocks)
          .u64(s.bfree)
          .u64(s.bavail)
          .u64(s.files)
          .u64(s.ffree)
          .u64(0)
          .u32(255)
          .finish();
      }
      case P9_TLOPEN:
        return this.lopen(r.tag, r.fid, r.flags);
      case P9_TLCREATE:
        return this.lcreate(r.tag, r.fid, r.name, r.flags, r.mode, r.gid);
      case P9_TSYMLINK: {
        this.writable();
        const f = this.fid(r.fid);
        this.newName(r.name, f.comps.length === 0);
        checkTarget(r.target);
        const qid = this.withDir(f, (dir) => {
          const cred = { uid: f.uid, gid: r.gid, mode: S_IFLNK | 0o777, rdev: 0 };
          if (this.model.mappedSymlinks) {
            const fd = openSync(this.jail.at(dir, r.name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, this.model.hostMode(0o777, 'file'));
            try {
              writeSync(fd, Buffer.from(r.target));
            } finally {
              closeSync(fd);
            }
          } else symlinkSync(r.target, this.jail.at(dir, r.name));
          this.created(dir, r.name, cred, true);
          return this.qidAt(dir, r.name, this.jail.lstatAt(dir, r.name));
        });
        return w.begin(r.type + 1, r.tag).qid(qid).finish();
      }
      case P9_TMKNOD: {
        this.writable();
        const f = this.fid(r.fid);
        this.newName(r.name, f.comps.length === 0);
        const fmt = r.mode & S_IFMT;
        // Device nodes, FIFOs and sockets never appear on the host: only mapped-file can represent them (as regular files).
        if (!this.model.mappedSymlinks && fmt !== S_IFREG) throw new FsError(errno.EPERM);
        const qid = this.withDir(f, (dir) => {
          closeSync(openSync(this.jail.at(dir, r.name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, this.model.hostMode(r.mode, 'file')));
          const rdev = (((r.major & 0xfff) << 8) | (r.minor & 0xff) | ((r.minor & ~0xff) << 12)) >>> 0;
          this.created(dir, r.name, { uid: f.uid, gid: r.gid, mode: fmt === 0 ? S_IFREG | (r.mode & 0o7777) : r.mode, rdev }, false);
          return this.qidAt(dir, r.name, this.jail.lstatAt(dir, r.name));
        });
        return w.begin(r.type + 1, r.tag).qid(qid).finish();
      }
      case P9_TREADLINK: {
        const f = this.fid(r.fid);
        const target = this.withParent(f.comps, (dir, name) => {
          if (dir === null || name === null) throw new FsError(errno.EINVAL);
          const st = this.jail.lstatAt(dir, name);
          if (this.model.mappedSymlinks) {
            if ((this.model.view(dir, name, st).mode & S_IFMT) !== S_IFLNK) throw new FsError(errno.EINVAL);
            const fd = this.jail.openObject(dir, name, C.O_RDONLY);
            try {
              const b = Buffer.alloc(4096);
              const n = readSync(fd, b, 0, b.length, 0);
              return b.subarray(0, n).toString();
            } finally {
              closeSync(fd);
            }
          }
          return readlinkSync(this.jail.at(dir, name));
        });
        if (P9_HDR + strSize(target) > limit) throw new FsError(errno.ENAMETOOLONG);
        return w.begin(r.type + 1, r.tag).str(target).finish();
      }
      case P9_TGETATTR: {
        const f = this.fid(r.fid);
        const { st, cred, qid } = this.withParent(f.comps, (dir, name) => {
          const s = this.statOf(f, dir, name);
          const c = this.model.view(dir, name, s);
          return { st: s, cred: c, qid: qidOf(s, c.mode) };
        });
        const sec = (ms: number): number => Math.floor(ms / 1000);
        const nsec = (ms: number): number => Math.floor((ms % 1000) * 1e6);
        return w
          .begin(r.type + 1, r.tag)
          .u64(GETATTR_BASIC)
          .qid(qid)
          .u32(cred.mode)
          .u32(cred.uid)
          .u32(cred.gid)
          .u64(st.nlink)
          .u64(cred.rdev)
          .u64(st.size)
          .u64(st.blksize)
          .u64(st.blocks)
          .u64(sec(st.atimeMs))
          .u64(nsec(st.atimeMs))
          .u64(sec(st.mtimeMs))
          .u64(nsec(st.mtimeMs))
          .u64(sec(st.ctimeMs))
          .u64(nsec(st.ctimeMs))
          .u64(0)
          .u64(0)
          .u64(0)
          .u64(0)
          .finish();
      }
      case P9_TSETATTR:
        this.setattr(this.fid(r.fid), r);
        return w.begin(r.type + 1, r.tag).finish();
      case P9_TXATTRWALK: {
        const f = this.fid(r.fid);
        // No extended attributes are exposed: listing is empty, every name is absent.
        if (r.name !== '') throw new FsError(errno.ENODATA);
        const nf = this.newFid(r.newfid === r.fid ? P9_NOFID : r.newfid, f, [...f.comps]);
        nf.xattr = new Uint8Array(0);
        return w.begin(r.type + 1, r.tag).u64(0).finish();
      }
      case P9_TXATTRCREATE:
        this.fid(r.fid);
        throw new FsError(this.readonly ? errno.EROFS : errno.EOPNOTSUPP);
      case P9_TREAD:
        return this.read(r.tag, r.fid, r.offset, r.count, limit);
      case P9_TWRITE: {
        this.writable();
        const f = this.fid(r.fid);
        if (f.fd < 0 || (f.openFlags & DOTL.ACCMODE) === 0) throw new FsError(errno.EBADF);
        let done = 0;
        while (done < r.data.length) {
          const n = writeSync(f.fd, r.data, done, r.data.length - done, (f.openFlags & DOTL.APPEND) !== 0 ? null : r.offset + done);
          if (n <= 0) break;
          done += n;
        }
        return w.begin(r.type + 1, r.tag).u32(done).finish();
      }
      case P9_TREADDIR:
        return this.readdir(r.tag, r.fid, r.offset, r.count, limit);
      case P9_TFSYNC: {
        const f = this.fid(r.fid);
        if (f.fd < 0) throw new FsError(errno.EBADF);
        if (r.datasync) fdatasyncSync(f.fd);
        else fsyncSync(f.fd);
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TLOCK:
        this.fid(r.fid);
        // As QEMU: locks are granted without host locking (the guest kernel keeps its own POSIX lock state).
        return w.begin(r.type + 1, r.tag).u8(0).finish();
      case P9_TGETLOCK: {
        this.fid(r.fid);
        if (P9_HDR + 1 + 8 + 8 + 4 + strSize(r.clientId) > limit) throw new FsError(errno.EMSGSIZE);
        return w.begin(r.type + 1, r.tag).u8(2).u64(r.start).u64(r.length).u32(r.procId).str(r.clientId).finish();
      }
      case P9_TLINK: {
        this.writable();
        const d = this.fid(r.dfid);
        const f = this.fid(r.fid);
        this.newName(r.name, d.comps.length === 0);
        this.withParent(f.comps, (sdir, sname) => {
          if (sdir === null || sname === null) throw new FsError(errno.EPERM);
          this.withDir(d, (dir) => linkSync(this.jail.at(sdir, sname), this.jail.at(dir, r.name)));
        });
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TMKDIR: {
        this.writable();
        const d = this.fid(r.dfid);
        this.newName(r.name, d.comps.length === 0);
        const qid = this.withDir(d, (dir) => {
          mkdirSync(this.jail.at(dir, r.name), this.model.hostMode(r.mode, 'dir'));
          this.created(dir, r.name, { uid: d.uid, gid: r.gid, mode: S_IFDIR | (r.mode & 0o7777), rdev: 0 }, false);
          return this.qidAt(dir, r.name, this.jail.lstatAt(dir, r.name));
        });
        return w.begin(r.type + 1, r.tag).qid(qid).finish();
      }
      case P9_TRENAME: {
        this.writable();
        const f = this.fid(r.fid);
        const d = this.fid(r.dfid);
        if (f.comps.length === 0) throw new FsError(errno.EBUSY);
        this.newName(r.name, d.comps.length === 0);
        this.rename(f.comps.slice(0, -1), f.comps[f.comps.length - 1]!, d.comps, r.name);
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TRENAMEAT: {
        this.writable();
        const od = this.fid(r.olddirfid);
        const nd = this.fid(r.newdirfid);
        checkName(r.oldname);
        if (r.oldname === '.' || r.oldname === '..' || this.model.hidden(r.oldname, od.comps.length === 0)) throw new FsError(errno.EINVAL);
        this.newName(r.newname, nd.comps.length === 0);
        this.rename(od.comps, r.oldname, nd.comps, r.newname);
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TUNLINKAT: {
        this.writable();
        const d = this.fid(r.dirfid);
        checkName(r.name);
        if (r.name === '.') throw new FsError(errno.EINVAL);
        if (r.name === '..') throw new FsError(errno.ENOTEMPTY);
        if (this.model.hidden(r.name, d.comps.length === 0)) throw new FsError(errno.ENOENT);
        this.withDir(d, (dir) => this.unlinkIn(dir, r.name, (r.flags & AT_REMOVEDIR) !== 0));
        return w.begin(r.type + 1, r.tag).finish();
      }
    }
  }
  private created(dir: number, name: string, cred: { uid: number; gid: number; mode: number; rdev: number }, symlink: boolean): void {
    try {
      this.model.created(dir, name, cred, symlink);
    } catch (e) {
      // Undo: an entry whose ownership could not be set is not left behind.
      try {
        const st = this.jail.lstatAt(dir, name);
        if (st.isDirectory()) rmdirSync(this.jail.at(dir, name));
        else unlinkSync(this.jail.at(dir, name));
      } catch {
        /* gone already */
      }
      throw e;
    }
  }
  private unlinkIn(dir: number, name: string, isDir: boolean): void {
    const st = this.jail.lstatAt(dir, name);
    if (isDir && !st.isDirectory()) throw new FsError(errno.ENOTDIR);
    if (isDir) {
      if (this.model instanceof MappedFileModel) this.model.beforeRmdir(this.jail.at(dir, name));
      rmdirSync(this.jail.at(dir, name));
    } else {
      if (st.isDirectory()) throw new FsError(errno.EISDIR);
      unlinkSync(this.jail.at(dir, name));
    }
    this.model.removed(dir, name, isDir, '');
  }
  private rename(oldDirComps: string[], oldName: string, newDirComps: string[], newName: string): void {
    const od = this.jail.openDir(oldDirComps);
    try {
      const nd = this.jail.openDir(newDirComps);
      try {
        renameSync(this.jail.at(od, oldName), this.jail.at(nd, newName));
        this.model.renamed(od, oldName, nd, newName);
      } finally {
        this.jail.release(nd);
      }
    } finally {
      this.jail.release(od);
    }
    // Fids at or below the old path now name the new one.
    const from = [...oldDirComps, oldName];
    const to = [...newDirComps, newName];
    for (const f of this.fids.values()) {
      if (f.comps.length >= from.length && from.every((c, i) => f.comps[i] === c)) f.comps = [...to, ...f.comps.slice(from.length)];
    }
  }
  private walk(tag: number, fidNo: number, newfidNo: number, names: string[]): Uint8Array {
    const f = this.fid(fidNo);
    if (newfidNo !== fidNo && this.fids.has(newfidNo)) throw new FsError(errno.EBADF, `fid ${newfidNo} in use`);
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
            this.jail.release(dir);
            dir = -1;
            qids.push(this.withParent(comps, (d, n) => this.qidAt(d, n, d === null ? fstatSync(this.jail.rootFd) : this.jail.lstatAt(d, n!))));
            continue;
          }
          if (name === '.') {
            qids.push(this.withParent(comps, (d, n) => this.qidAt(d, n, d === null ? fstatSync(this.jail.rootFd) : this.jail.lstatAt(d, n!))));
            continue;
          }
          if (this.model.hidden(name, comps.length === 0)) throw new FsError(errno.ENOENT);
          if (dir < 0) dir = this.jail.openDir(comps);
          const st = this.jail.lstatAt(dir, name);
          comps.push(name);
          qids.push(this.qidAt(dir, name, st));
          if (i + 1 < names.length) {
            // The next name is looked up in this entry: it has to be a real directory (a symlink is never followed).
            if (!st.isDirectory()) throw new FsError(errno.ENOTDIR);
            const child = openChildDir(this.jail, dir, name);
            this.jail.release(dir);
            dir = child;
          }
        } catch (e) {
          error = errnoOf(e);
          break;
        }
      }
    } finally {
      this.jail.release(dir);
    }
    // The first name failing is an error; a later one is a partial walk, and newfid is not made.
    if (error && qids.length === 0) throw new FsError(error);
    if (qids.length === names.length) {
      if (newfidNo === fidNo) f.comps = comps;
      else this.newFid(newfidNo, f, comps);
    }
    const w = this.w.begin(P9_TWALK + 1, tag).u16(qids.length);
    for (const q of qids) w.qid(q);
    return w.finish();
  }
  private lopen(tag: number, fidNo: number, flags: number): Uint8Array {
    const f = this.fid(fidNo);
    if (f.fd >= 0 || f.xattr) throw new FsError(errno.EBADF);
    if (this.readonly && ((flags & DOTL.ACCMODE) !== 0 || flags & DOTL.TRUNC)) throw new FsError(errno.EROFS);
    if (this.openCount >= MAX_OPEN) throw new FsError(errno.EMFILE);
    const { fd, qid } = this.withParent(f.comps, (dir, name) => {
      const st = dir === null ? fstatSync(this.jail.rootFd) : this.jail.lstatAt(dir, name!);
      const view = this.model.view(dir, name, st);
      if ((view.mode & S_IFMT) === S_IFLNK) throw new FsError(errno.ELOOP);
      let h = hostOpenFlags(flags);
      if (st.isDirectory()) h = (h & ~(DOTL.ACCMODE | C.O_TRUNC | C.O_APPEND)) | C.O_RDONLY;
      const fd = dir === null ? this.jail.openObject(this.jail.rootFd, null, h) : this.jail.openObject(dir, name!, h);
      return { fd, qid: qidOf(fstatSync(fd), view.mode) };
    });
    f.fd = fd;
    f.openFlags = flags;
    f.entries = null;
    this.openCount++;
    return this.w.begin(P9_TLOPEN + 1, tag).qid(qid).u32(0).finish();
  }
  private lcreate(tag: number, fidNo: number, name: string, flags: number, mode: number, gid: number): Uint8Array {
    this.writable();
    const f = this.fid(fidNo);
    if (f.fd >= 0 || f.xattr) throw new FsError(errno.EBADF);
    this.newName(name, f.comps.length === 0);
    if (this.openCount >= MAX_OPEN) throw new FsError(errno.EMFILE);
    const { fd, qid } = this.withDir(f, (dir) => {
      const h = (hostOpenFlags(flags) & ~C.O_DIRECTORY) | C.O_CREAT | C.O_EXCL;
      const fd = this.jail.openObject(dir, name, h, this.model.hostMode(mode, 'file'));
      try {
        this.created(dir, name, { uid: f.uid, gid, mode: S_IFREG | (mode & 0o7777), rdev: 0 }, false);
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
    this.openCount++;
    return this.w.begin(P9_TLCREATE + 1, tag).qid(qid).u32(0).finish();
  }
  private read(tag: number, fidNo: number, offset: number, count: number, limit: number): Uint8Array {
    const f = this.fid(fidNo);
    const n = Math.min(count, limit - P9_HDR - 4);
    const w = this.w.begin(P9_TREAD + 1, tag);
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
  private readdir(tag: number, fidNo: number, offset: number, count: number, limit: number): Uint8Array {
    const f = this.fid(fidNo);
    if (f.fd < 0) throw new FsError(errno.EBADF);
    if (offset === 0 || !f.entries) f.entries = this.listDir(f);
    const room = Math.min(count, limit - P9_HDR - 4);
    const w = this.w.begin(P9_TREADDIR + 1, tag);
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

}
