/**
 * What every 9P handler works with: the session context (export jail,
 * security model, fid table, reply writer) and the path helpers the handler
 * families share. Handlers are free functions of a P9Context so that each
 * family (p9-file-ops.ts, p9-attr-ops.ts, p9-dir-ops.ts) stays a small module.
 */
import { fstatSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { checkName, errno, type ExportJail, FsError } from './jail.js';
import type { FidTable } from './p9-fids.js';
import { qidOf, type Fid } from './p9-host.js';
import type { SecurityModel } from './security-model.js';
import type { Qid, RWriter, TRequest } from './p9-wire.js';

export interface P9Context {
  readonly jail: ExportJail;
  readonly model: SecurityModel;
  readonly readonly: boolean;
  readonly fids: FidTable;
  /** The reply being built (one buffer, reused for every reply). */
  readonly w: RWriter;
}

/** The parsed request of one message type. */
export type TReq<K extends TRequest['type']> = Extract<TRequest, { type: K }>;

export function writable(c: P9Context): void {
  if (c.readonly) throw new FsError(errno.EROFS);
}

/** Run `fn` with the parent directory handle and last name of `comps` (null, null for the root). */
export function withParent<T>(c: P9Context, comps: readonly string[], fn: (dir: number | null, name: string | null) => T): T {
  if (comps.length === 0) return fn(null, null);
  const dir = c.jail.openDir(comps, comps.length - 1);
  try {
    return fn(dir, comps[comps.length - 1]!);
  } finally {
    c.jail.release(dir);
  }
}

export function withDir<T>(c: P9Context, f: Fid, fn: (dir: number) => T): T {
  const dir = c.jail.openDir(f.comps);
  try {
    return fn(dir);
  } finally {
    c.jail.release(dir);
  }
}

export function statOf(c: P9Context, f: Fid, dir: number | null, name: string | null): Stats {
  if (f.fd >= 0) return fstatSync(f.fd);
  if (dir === null || name === null) return fstatSync(c.jail.rootFd);
  return c.jail.lstatAt(dir, name);
}

export function qidAt(c: P9Context, dir: number | null, name: string | null, st: Stats): Qid {
  return qidOf(st, c.model.mappedSymlinks ? c.model.view(dir, name, st).mode : st.mode);
}

/** A name the guest creates: legal, not a metadata name, not `.`/`..`. */
export function newName(c: P9Context, name: string, atRoot: boolean): void {
  checkName(name);
  if (name === '.' || name === '..') throw new FsError(errno.EEXIST);
  if (c.model.hidden(name, atRoot)) throw new FsError(errno.EINVAL);
}

/** Record a new entry's credentials with the security model; on failure the entry is removed again. */
export function created(c: P9Context, dir: number, name: string, cred: { uid: number; gid: number; mode: number; rdev: number }, symlink: boolean): void {
  try {
    c.model.created(dir, name, cred, symlink);
  } catch (e) {
    // Undo: an entry whose ownership could not be set is not left behind.
    try {
      const st = c.jail.lstatAt(dir, name);
      if (st.isDirectory()) rmdirSync(c.jail.at(dir, name));
      else unlinkSync(c.jail.at(dir, name));
    } catch {
      /* gone already */
    }
    throw e;
  }
}
