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
 *
 * Layout: this module owns the session (version, attach, clunk, msize) and
 * dispatch; the fid table is p9-fids.ts, the handlers' shared context
 * p9-context.ts, and the handlers by family p9-file-ops.ts (walk, open,
 * read, write), p9-attr-ops.ts (attributes, link targets, statfs, xattrs) and
 * p9-dir-ops.ts (readdir, creating, renaming and removing entries).
 */
import { chmodSync, chownSync, fstatSync, lchownSync } from 'node:fs';
import { errno, errnoOf, ExportJail, FsError } from './jail.js';
import { qidAt, type P9Context } from './p9-context.js';
import { getattr, readlink, setattr, statfs, xattrcreate, xattrwalk } from './p9-attr-ops.js';
import { link, mkdir, mknod, readdir, remove, rename, renameat, symlink, unlinkat } from './p9-dir-ops.js';
import { FidTable } from './p9-fids.js';
import { fsync, getlock, lcreate, lock, lopen, read, walk, write } from './p9-file-ops.js';
import { MappedFileModel, PassthroughModel, type SecurityModel, type SecurityModelName } from './security-model.js';
import {
  P9_HDR,
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
  type ParseFailure,
  type TRequest,
} from './p9-wire.js';

export { MAX_FIDS, MAX_OPEN } from './p9-fids.js';

export interface P9ServerOptions {
  path: string;
  securityModel: SecurityModelName;
  readonly?: boolean;
  /** Largest msize offered (the client may ask for less). */
  maxMsize?: number;
}

export const DEFAULT_MAX_MSIZE = 512 * 1024;
/** Smallest msize we accept (room for a header and a few fields). */
const MIN_MSIZE = 4096;

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
  private readonly fids = new FidTable();
  private readonly reply: Uint8Array;
  private readonly w: RWriter;
  /** What the handlers work with (p9-context.ts). */
  private readonly ctx: P9Context;
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
    this.ctx = { jail: this.jail, model: this.model, readonly: this.readonly, fids: this.fids, w: this.w };
  }

  /** Number of live fids (tests). */
  get fidCount(): number {
    return this.fids.size;
  }

  /** Forget every fid and close every descriptor (device reset, Tversion). */
  resetSession(): void {
    this.fids.reset();
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
  private dispatch(r: TRequest, limit: number): Uint8Array {
    const c = this.ctx;
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
        const f = this.fids.add(r.fid, null, []);
        f.uid = r.nUname === P9_NOFID ? 0 : r.nUname;
        return w.begin(r.type + 1, r.tag).qid(qidAt(c, null, null, st)).finish();
      }
      case P9_TFLUSH:
        // Requests complete in order before the next is read: the flushed one has already been answered.
        return w.begin(r.type + 1, r.tag).finish();
      case P9_TWALK:
        return walk(c, r.tag, r.fid, r.newfid, r.names);
      case P9_TCLUNK: {
        const f = this.fids.get(r.fid);
        this.fids.close(f);
        this.fids.delete(r.fid);
        return w.begin(r.type + 1, r.tag).finish();
      }
      case P9_TREMOVE:
        return remove(c, r);
      case P9_TSTATFS:
        return statfs(c, r);
      case P9_TLOPEN:
        return lopen(c, r.tag, r.fid, r.flags);
      case P9_TLCREATE:
        return lcreate(c, r.tag, r.fid, r.name, r.flags, r.mode, r.gid);
      case P9_TSYMLINK:
        return symlink(c, r);
      case P9_TMKNOD:
        return mknod(c, r);
      case P9_TREADLINK:
        return readlink(c, r, limit);
      case P9_TGETATTR:
        return getattr(c, r);
      case P9_TSETATTR:
        return setattr(c, r);
      case P9_TXATTRWALK:
        return xattrwalk(c, r);
      case P9_TXATTRCREATE:
        return xattrcreate(c, r);
      case P9_TREAD:
        return read(c, r.tag, r.fid, r.offset, r.count, limit);
      case P9_TWRITE:
        return write(c, r);
      case P9_TREADDIR:
        return readdir(c, r.tag, r.fid, r.offset, r.count, limit);
      case P9_TFSYNC:
        return fsync(c, r);
      case P9_TLOCK:
        return lock(c, r);
      case P9_TGETLOCK:
        return getlock(c, r, limit);
      case P9_TLINK:
        return link(c, r);
      case P9_TMKDIR:
        return mkdir(c, r);
      case P9_TRENAME:
        return rename(c, r);
      case P9_TRENAMEAT:
        return renameat(c, r);
      case P9_TUNLINKAT:
        return unlinkat(c, r);
    }
  }
}
