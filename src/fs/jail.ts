/**
 * The export jail: every host path the 9P server touches is reached from one
 * directory handle (the export root) one component at a time, never by
 * joining strings into a host path.
 *
 * Node has no openat(2), so a directory handle is used through the kernel's
 * per-descriptor magic link: `/proc/self/fd/N/name` looks `name` up inside
 * the directory N refers to, exactly as openat(N, "name") would. Every
 * intermediate directory is opened with O_PATH | O_DIRECTORY | O_NOFOLLOW,
 * so a component that is (or was swapped to) a symlink fails with ELOOP or
 * ENOTDIR instead of leading elsewhere; names are single components (no
 * `/`, no NUL, never `.` or `..`), and `..` in a walk is handled by dropping
 * a component, never below the root. Objects themselves are opened with
 * O_NOFOLLOW, and the final descriptor's target is re-checked against the
 * root's real path (defence in depth: a bind mount or a host-side rename
 * cannot make it point outside without being noticed).
 */
import {
  closeSync,
  constants as C,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { constants as osConstants } from 'node:os';

/** Linux's O_PATH (fs.constants does not export it). */
export const O_PATH = 0o10000000;

export const errno = osConstants.errno;

/** A failure with the errno the guest will see in Rlerror. */
export class FsError extends Error {
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `errno ${errno}`);
    this.name = 'FsError';
  }
}

/** The errno of a host error (Node's `code`), EIO when unknown. */
export function errnoOf(e: unknown): number {
  if (e instanceof FsError) return e.errno;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code && code in errno) return (errno as Record<string, number>)[code]!;
  return errno.EIO;
}

/** A name the guest may use for one directory entry. */
export function checkName(name: string): void {
  if (name.length === 0 || name.includes('/') || name.includes('\0')) throw new FsError(errno.ENOENT, `illegal name ${JSON.stringify(name)}`);
  if (name.length > 255) throw new FsError(errno.ENAMETOOLONG);
}

export function magic(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

export class ExportJail {
  /** The export's real path (symlinks in the configured path resolved once, by the host user's choice). */
  readonly root: string;
  /** O_PATH handle of the root, held for the device's lifetime. */
  readonly rootFd: number;
  private closed = false;

  constructor(path: string) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch (e) {
      throw new FsError(errnoOf(e), `cannot open ${path}: ${(e as Error).message}`);
    }
    this.root = real;
    const fd = openSync(real, O_PATH | C.O_DIRECTORY);
    this.rootFd = fd;
    if (!fstatSync(fd).isDirectory()) throw new FsError(errno.ENOTDIR, `${path} is not a directory`);
  }

  /** The host path of `name` inside the directory `dirFd` (openat-style: resolved by the kernel relative to the handle). */
  at(dirFd: number, name: string): string {
    return `${magic(dirFd)}/${name}`;
  }

  /**
   * Open the directory reached by `comps` from the root as an O_PATH handle.
   * Each step refuses symlinks and non-directories. The caller closes the
   * result unless it is rootFd (check with isRoot()).
   */
  openDir(comps: readonly string[], upTo = comps.length): number {
    let fd = this.rootFd;
    try {
      for (let i = 0; i < upTo; i++) {
        const next = openSync(this.at(fd, comps[i]!), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
        if (fd !== this.rootFd) closeSync(fd);
        fd = next;
      }
    } catch (e) {
      if (fd !== this.rootFd) closeSync(fd);
      // A component swapped to a symlink (ELOOP) or to a file is "not a directory" to the walker.
      const n = errnoOf(e);
      throw new FsError(n === errno.ELOOP ? errno.ENOTDIR : n);
    }
    this.checkInside(fd);
    return fd;
  }

  release(fd: number): void {
    if (fd !== this.rootFd && fd >= 0) closeSync(fd);
  }

  /**
   * Re-check that a descriptor's target lies inside the root. The kernel
   * reports the path it would print for the descriptor; anything outside the
   * root (or unreachable, "(deleted)" aside) is refused with EACCES.
   */
  checkInside(fd: number): void {
    if (fd === this.rootFd) return;
    let target: string;
    try {
      target = readlinkSync(magic(fd));
    } catch {
      return; // the descriptor is valid; a vanished /proc entry tells nothing
    }
    if (target.endsWith(' (deleted)')) target = target.slice(0, -' (deleted)'.length);
    if (target !== this.root && !target.startsWith(this.root === '/' ? '/' : `${this.root}/`)) {
      throw new FsError(errno.EACCES, `descriptor resolves outside the export: ${target}`);
    }
  }

  /** lstat of `name` in `dirFd` (never follows a final symlink). */
  lstatAt(dirFd: number, name: string): Stats {
    return lstatSync(this.at(dirFd, name));
  }

  /**
   * Open the object `name` in `dirFd` for I/O. Only regular files and
   * directories are opened; device nodes, FIFOs and sockets are refused
   * before any open (opening a device can have effects of its own), and a
   * final symlink fails with ELOOP. The server handles one request at a
   * time, so no guest request can swap the entry between the lstat and the
   * open; the dev/ino comparison catches a host-side swap.
   */
  openObject(dirFd: number, name: string | null, flags: number, mode = 0): number {
    const path = name === null ? magic(dirFd) : this.at(dirFd, name);
    const create = (flags & C.O_CREAT) !== 0;
    let before: Stats | null = null;
    if (!create || (flags & C.O_EXCL) === 0) {
      try {
        before = name === null ? fstatSync(dirFd) : lstatSync(path);
      } catch (e) {
        if (!create) throw e;
      }
      if (before) {
        if (before.isSymbolicLink()) throw new FsError(errno.ELOOP);
        if (!before.isFile() && !before.isDirectory()) throw new FsError(errno.EACCES, 'device nodes, FIFOs and sockets are not opened');
      }
    }
    // The magic link of the handle itself must be followed; a name never is.
    const fd = openSync(path, flags | (name === null ? 0 : C.O_NOFOLLOW) | C.O_NONBLOCK, mode);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() && !st.isDirectory()) throw new FsError(errno.EACCES);
      if (before && (st.ino !== before.ino || st.dev !== before.dev)) throw new FsError(errno.EAGAIN, 'entry changed during open');
      this.checkInside(fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.rootFd);
  }
}
