/**
 * 9P2000.L handlers for metadata: getattr and setattr (through the security
 * model's view of ownership and mode), link targets, statfs, and the
 * extended-attribute requests (none are exposed).
 */
import { closeSync, constants as C, readlinkSync, readSync, statfsSync } from 'node:fs';
import { errno, FsError, magic } from './jail.js';
import { statOf, withParent, writable, type P9Context, type TReq } from './p9-context.js';
import { applySetattr, qidOf } from './p9-host.js';
import { S_IFLNK, S_IFMT } from './security-model.js';
import {
  GETATTR_BASIC,
  P9_HDR,
  P9_NOFID,
  P9_TGETATTR,
  P9_TREADLINK,
  P9_TSETATTR,
  P9_TSTATFS,
  P9_TXATTRCREATE,
  P9_TXATTRWALK,
  strSize,
} from './p9-wire.js';

export function statfs(c: P9Context, r: TReq<typeof P9_TSTATFS>): Uint8Array {
  c.fids.get(r.fid);
  const s = statfsSync(magic(c.jail.rootFd));
  return c.w
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

export function readlink(c: P9Context, r: TReq<typeof P9_TREADLINK>, limit: number): Uint8Array {
  const f = c.fids.get(r.fid);
  const target = withParent(c, f.comps, (dir, name) => {
    if (dir === null || name === null) throw new FsError(errno.EINVAL);
    const st = c.jail.lstatAt(dir, name);
    if (c.model.mappedSymlinks) {
      if ((c.model.view(dir, name, st).mode & S_IFMT) !== S_IFLNK) throw new FsError(errno.EINVAL);
      const fd = c.jail.openObject(dir, name, C.O_RDONLY);
      try {
        const b = Buffer.alloc(4096);
        const n = readSync(fd, b, 0, b.length, 0);
        return b.subarray(0, n).toString();
      } finally {
        closeSync(fd);
      }
    }
    return readlinkSync(c.jail.at(dir, name));
  });
  if (P9_HDR + strSize(target) > limit) throw new FsError(errno.ENAMETOOLONG);
  return c.w.begin(r.type + 1, r.tag).str(target).finish();
}

export function getattr(c: P9Context, r: TReq<typeof P9_TGETATTR>): Uint8Array {
  const f = c.fids.get(r.fid);
  const { st, cred, qid } = withParent(c, f.comps, (dir, name) => {
    const s = statOf(c, f, dir, name);
    const m = c.model.view(dir, name, s);
    return { st: s, cred: m, qid: qidOf(s, m.mode) };
  });
  const sec = (ms: number): number => Math.floor(ms / 1000);
  const nsec = (ms: number): number => Math.floor((ms % 1000) * 1e6);
  return c.w
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

export function setattr(c: P9Context, r: TReq<typeof P9_TSETATTR>): Uint8Array {
  const f = c.fids.get(r.fid);
  if (r.valid !== 0) {
    writable(c);
    withParent(c, f.comps, (dir, name) => applySetattr(c.jail, c.model, f, dir, name, statOf(c, f, dir, name), r));
  }
  return c.w.begin(r.type + 1, r.tag).finish();
}

export function xattrwalk(c: P9Context, r: TReq<typeof P9_TXATTRWALK>): Uint8Array {
  const f = c.fids.get(r.fid);
  // No extended attributes are exposed: listing is empty, every name is absent.
  if (r.name !== '') throw new FsError(errno.ENODATA);
  const nf = c.fids.add(r.newfid === r.fid ? P9_NOFID : r.newfid, f, [...f.comps]);
  nf.xattr = new Uint8Array(0);
  return c.w.begin(r.type + 1, r.tag).u64(0).finish();
}

export function xattrcreate(c: P9Context, r: TReq<typeof P9_TXATTRCREATE>): Uint8Array {
  c.fids.get(r.fid);
  throw new FsError(c.readonly ? errno.EROFS : errno.EOPNOTSUPP);
}
