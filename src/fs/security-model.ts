/**
 * `security_model=` of -fsdev local, as QEMU documents it:
 *
 * - passthrough: files are created and owned with the guest's credentials
 *   (uid from the attach, gid from the request), modes as asked; a failed
 *   chown is an error (the host user must be able to chown, i.e. root).
 * - none: like passthrough, but failures to set ownership are ignored.
 * - mapped-file: files are created with the host user's credentials and
 *   private modes (0600 files, 0700 directories); the guest's uid, gid, mode
 *   and rdev live in `.virtfs_metadata/<name>` next to the entry
 *   (`.virtfs_metadata_root` for the root itself), hidden from the guest.
 *   Symlinks and special files are regular files whose metadata says what
 *   they are (a symlink's content is its target), so the host never sees a
 *   guest-made symlink or device node.
 * - mapped-xattr: the same mapping in `user.virtfs.*` extended attributes.
 *   Node.js cannot read or write extended attributes without a native addon,
 *   so tsvmm refuses it at start-up and points at mapped-file.
 */
import { closeSync, constants as C, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { errno, ExportJail, FsError, O_PATH } from './jail.js';

export type SecurityModelName = 'passthrough' | 'none' | 'mapped-file' | 'mapped-xattr';

export interface Cred {
  uid: number;
  gid: number;
  /** Full mode including the file type bits. */
  mode: number;
  rdev: number;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

const META_DIR = '.virtfs_metadata';
const META_ROOT = '.virtfs_metadata_root';

export interface SecurityModel {
  readonly name: SecurityModelName;
  /** Whether the model stores symlinks as regular files (readlink reads the content). */
  readonly mappedSymlinks: boolean;
  /** Names the guest never sees (metadata). */
  hidden(name: string, atRoot: boolean): boolean;
  /** Host permission bits for a new entry. */
  hostMode(guestMode: number, kind: 'file' | 'dir'): number;
  /** Apply the guest's credentials to a newly created entry `name` in `dirFd`. */
  created(dirFd: number, name: string, cred: Cred, isSymlink: boolean): void;
  /** What the guest sees for an entry's owner and mode. `dirFd`/`name` null: the root. */
  view(dirFd: number | null, name: string | null, st: Stats): Cred;
  /** Change owner/mode as the guest asked (fields undefined are kept). */
  setCred(dirFd: number | null, name: string | null, st: Stats, change: Partial<Pick<Cred, 'uid' | 'gid' | 'mode'>>, objPath: string, isSymlink: boolean): void;
  renamed(oldDir: number, oldName: string, newDir: number, newName: string): void;
  removed(dirFd: number, name: string, wasDir: boolean, objPath: string): void;
}

/** passthrough and none: the host's own ownership and modes are the guest's. */
export class PassthroughModel implements SecurityModel {
  readonly mappedSymlinks = false;
  constructor(
    readonly name: 'passthrough' | 'none',
    private readonly jail: ExportJail,
    private readonly chown: (path: string, uid: number, gid: number, nofollow: boolean) => void,
    private readonly chmod: (path: string, mode: number) => void,
  ) {}
  hidden(): boolean {
    return false;
  }
  hostMode(guestMode: number): number {
    return guestMode & 0o7777;
  }
  created(dirFd: number, name: string, cred: Cred, isSymlink: boolean): void {
    try {
      this.chown(this.jail.at(dirFd, name), cred.uid, cred.gid, true);
    } catch (e) {
      if (this.name === 'passthrough') throw e;
    }
    // The host's umask applied at creation and chown clears setuid/setgid: set exactly the mode the guest asked for.
    if (!isSymlink) this.chmod(this.jail.at(dirFd, name), cred.mode & 0o7777);
  }
  view(_d: number | null, _n: string | null, st: Stats): Cred {
    return { uid: st.uid, gid: st.gid, mode: st.mode, rdev: st.rdev };
  }
  setCred(_d: number | null, _n: string | null, st: Stats, change: Partial<Cred>, objPath: string, isSymlink: boolean): void {
    if (change.uid !== undefined || change.gid !== undefined) {
      try {
        this.chown(objPath, change.uid ?? st.uid, change.gid ?? st.gid, isSymlink);
      } catch (e) {
        if (this.name === 'passthrough') throw e;
      }
    }
    if (change.mode !== undefined && !isSymlink) this.chmod(objPath, change.mode & 0o7777);
  }
  renamed(): void {}
  removed(): void {}
}

/** mapped-file: the guest's view of ownership lives in hidden metadata files. */
export class MappedFileModel implements SecurityModel {
  readonly name = 'mapped-file' as const;
  readonly mappedSymlinks = true;
  constructor(private readonly jail: ExportJail) {}

  hidden(name: string, atRoot: boolean): boolean {
    return name === META_DIR || (atRoot && name === META_ROOT);
  }
  hostMode(_guestMode: number, kind: 'file' | 'dir'): number {
    return kind === 'dir' ? 0o700 : 0o600;
  }

  /** Path of the metadata file of `name` in `dirFd` (or of the root), creating the metadata directory when asked. */
  private metaFile<T>(dirFd: number | null, name: string | null, create: boolean, fn: (dir: number, file: string) => T): T | null {
    if (dirFd === null || name === null) return fn(this.jail.rootFd, META_ROOT);
    let md: number;
    try {
      md = openSync(this.jail.at(dirFd, META_DIR), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    } catch (e) {
      if (!create || (e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
      mkdirSync(this.jail.at(dirFd, META_DIR), 0o700);
      md = openSync(this.jail.at(dirFd, META_DIR), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    }
    try {
      return fn(md, name);
    } finally {
      closeSync(md);
    }
  }

  private read(dirFd: number | null, name: string | null): Partial<Cred> {
    const out: Partial<Cred> = {};
    let text: string | null = null;
    try {
      text = this.metaFile(dirFd, name, false, (d, f) => {
        const fd = openSync(this.jail.at(d, f), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
        try {
          if (!fstatSync(fd).isFile()) return null;
          return readFileSync(fd, 'latin1').slice(0, 4096);
        } finally {
          closeSync(fd);
        }
      });
    } catch {
      return out;
    }
    if (!text) return out;
    for (const line of text.split('\n')) {
      const m = /^virtfs\.(uid|gid|mode|rdev)=(\d+)$/.exec(line);
      if (m) out[m[1] as keyof Cred] = Number(m[2]);
    }
    return out;
  }

  private write(dirFd: number | null, name: string | null, c: Partial<Cred>): void {
    const merged = { ...this.read(dirFd, name), ...c };
    let text = '';
    for (const k of ['uid', 'gid', 'mode', 'rdev'] as const) if (merged[k] !== undefined) text += `virtfs.${k}=${merged[k]}\n`;
    this.metaFile(dirFd, name, true, (d, f) => {
      const fd = openSync(this.jail.at(d, f), C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW | C.O_NONBLOCK, 0o600);
      try {
        if (!fstatSync(fd).isFile()) throw new FsError(errno.EACCES);
        writeSync(fd, Buffer.from(text, 'latin1'));
      } finally {
        closeSync(fd);
      }
    });
  }

  created(dirFd: number, name: string, cred: Cred): void {
    this.write(dirFd, name, cred);
  }
  view(dirFd: number | null, name: string | null, st: Stats): Cred {
    const m = this.read(dirFd, name);
    return { uid: m.uid ?? st.uid, gid: m.gid ?? st.gid, mode: m.mode ?? st.mode, rdev: m.rdev ?? st.rdev };
  }
  setCred(dirFd: number | null, name: string | null, st: Stats, change: Partial<Cred>): void {
    const c: Partial<Cred> = {};
    if (change.uid !== undefined) c.uid = change.uid;
    if (change.gid !== undefined) c.gid = change.gid;
    if (change.mode !== undefined) c.mode = ((this.read(dirFd, name).mode ?? st.mode) & S_IFMT) | (change.mode & 0o7777);
    this.write(dirFd, name, c);
  }
  renamed(oldDir: number, oldName: string, newDir: number, newName: string): void {
    // The entry that was replaced (if any) takes its metadata with it.
    this.removed(newDir, newName);
    this.metaFile(oldDir, oldName, false, (od, of) =>
      this.metaFile(newDir, newName, true, (nd, nf) => {
        try {
          renameSync(this.jail.at(od, of), this.jail.at(nd, nf));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }),
    );
  }
  removed(dirFd: number, name: string): void {
    this.metaFile(dirFd, name, false, (d, f) => {
      try {
        unlinkSync(this.jail.at(d, f));
      } catch {
        /* no metadata */
      }
    });
  }
  /** Before removing a directory: drop its (now empty) metadata directory, or rmdir fails with ENOTEMPTY. */
  beforeRmdir(dirObjPath: string): void {
    try {
      rmdirSync(`${dirObjPath}/${META_DIR}`);
    } catch {
      /* absent, or entries left: rmdir of the directory itself reports it */
    }
  }
}
