/**
 * The 9P session's fid table: the fids a client holds, each naming a path in
 * the export, and the bounds on fids and open host descriptors that keep a
 * hostile client from exhausting host memory or descriptors.
 */
import { closeSync } from 'node:fs';
import { errno, FsError } from './jail.js';
import type { Fid } from './p9-host.js';
import { P9_NOFID } from './p9-wire.js';

/** Upper bounds that keep a hostile client from exhausting host memory or descriptors. */
export const MAX_FIDS = 65536;
export const MAX_OPEN = 1024;

export class FidTable {
  private readonly fids = new Map<number, Fid>();
  private openCount = 0;

  get size(): number {
    return this.fids.size;
  }

  has(n: number): boolean {
    return this.fids.has(n);
  }

  get(n: number): Fid {
    const f = this.fids.get(n);
    if (!f) throw new FsError(errno.EBADF, `unknown fid ${n}`);
    return f;
  }

  /** A new fid `n` naming `comps`, with the user of `from` (the fid it came from, if any). */
  add(n: number, from: Fid | null, comps: string[]): Fid {
    if (n === P9_NOFID) throw new FsError(errno.EBADF);
    if (this.fids.has(n)) throw new FsError(errno.EBADF, `fid ${n} in use`);
    if (this.fids.size >= MAX_FIDS) throw new FsError(errno.EMFILE);
    const f: Fid = { comps, fd: -1, openFlags: 0, uid: from?.uid ?? 0, entries: null, xattr: null };
    this.fids.set(n, f);
    return f;
  }

  /** Close the fid's host descriptor, if it has one (the fid stays). */
  close(f: Fid): void {
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

  delete(n: number): void {
    this.fids.delete(n);
  }

  /** Forget every fid, closing every descriptor. */
  reset(): void {
    for (const f of this.fids.values()) this.close(f);
    this.fids.clear();
  }

  /** Throws EMFILE when no further descriptor may be opened. */
  checkOpenRoom(): void {
    if (this.openCount >= MAX_OPEN) throw new FsError(errno.EMFILE);
  }

  /** Count a descriptor a fid has just been given. */
  opened(): void {
    this.openCount++;
  }

  /** After a rename: fids at or below the old path now name the new one. */
  moved(from: readonly string[], to: readonly string[]): void {
    for (const f of this.fids.values()) {
      if (f.comps.length >= from.length && from.every((c, i) => f.comps[i] === c)) f.comps = [...to, ...f.comps.slice(from.length)];
    }
  }
}
