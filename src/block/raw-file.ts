import { closeSync, fstatSync, openSync, constants as fsc } from 'node:fs';
import * as fs from 'node:fs';
import { BlockError, type BlockDriver, type CacheMode } from './driver.js';

export { BlockError } from './driver.js';

export interface RawFileOptions {
  readonly?: boolean;
  /** Told of every host I/O error before the request fails (the monitors' BLOCK_IO_ERROR event). */
  onIoError?: (operation: 'read' | 'write' | 'flush', error: Error) => void;
  /** QEMU's cache= (default writeback): which writes reach the disk when; see docs/block.md. */
  cache?: CacheMode;
  /** 'unmap' punches holes in the host file for discards; 'ignore' (default) zeroes the range. */
  discard?: 'ignore' | 'unmap';
}

/**
 * A raw disk image on the host (QEMU's file protocol and raw format in one).
 * Every operation is asynchronous through Node's fs (the libuv thread pool),
 * so guest I/O never blocks the event loop; `flush` is fdatasync, so data the
 * guest flushed is on the host disk. Offsets are JS numbers: images up to
 * 2^53 bytes. Format drivers (qcow2) use it as their protocol layer.
 */
export class RawFile implements BlockDriver {
  readonly size: number;
  readonly readonly: boolean;
  readonly cache: CacheMode;
  readonly discardMode: 'ignore' | 'unmap';
  private fd: number;
  /** The same file opened O_DSYNC, for writeDurable (opened on first use). */
  private dsyncFd = -1;
  private readonly onIoError: RawFileOptions['onIoError'];

  constructor(readonly path: string, opts: RawFileOptions = {}) {
    this.readonly = opts.readonly ?? false;
    this.onIoError = opts.onIoError;
    this.cache = opts.cache ?? 'writeback';
    this.discardMode = opts.discard ?? 'ignore';
    // writethrough/directsync: every write is on the disk when it completes (O_DSYNC).
    const sync = this.cache === 'writethrough' || this.cache === 'directsync' ? fsc.O_DSYNC : 0;
    try {
      this.fd = openSync(path, this.readonly ? fsc.O_RDONLY : fsc.O_RDWR | sync);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EACCES' || err.code === 'EROFS' || err.code === 'EPERM') {
        throw new BlockError(
          this.readonly
            ? `Could not open '${path}': Permission denied`
            : `Could not open '${path}' for writing: ${err.code === 'EROFS' ? 'Read-only file system' : 'Permission denied'} (use readonly=on)`,
          err.code,
        );
      }
      if (err.code === 'ENOENT') throw new BlockError(`Could not open '${path}': No such file or directory`, 'ENOENT');
      throw new BlockError(`Could not open '${path}': ${err.message}`, err.code);
    }
    const st = fstatSync(this.fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      closeSync(this.fd);
      throw new BlockError(`disk image ${path} is not a regular file`);
    }
    this.size = st.size;
  }

  /** Read into `buf` from `offset` (zero-filled past end of file). */
  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.readv([buf], offset);
  }

  /** Scatter read: fill `bufs` in order from `offset` (zero-filled past end of file). */
  readv(bufs: Uint8Array[], offset: number): Promise<void> {
    return this.vectored(bufs, offset, false);
  }

  /** Gather write of `bufs` in order at `offset`. */
  writev(bufs: Uint8Array[], offset: number): Promise<void> {
    if (this.readonly) return Promise.reject(new BlockError('image is read-only', 'EROFS'));
    return this.vectored(bufs, offset, true);
  }

  private vectored(bufs: Uint8Array[], offset: number, write: boolean, fd = this.fd): Promise<void> {
    // readv/writev may transfer less than asked: resume from where they stopped.
    let list = bufs.filter((b) => b.length > 0);
    return new Promise((resolve, reject) => {
      const step = (pos: number): void => {
        if (list.length === 0) return resolve();
        const cb = (err: NodeJS.ErrnoException | null, n: number): void => {
          if (err) {
            this.onIoError?.(write ? 'write' : 'read', err);
            return reject(err);
          }
          if (n === 0) {
            if (write) return reject(new BlockError('short write'));
            for (const b of list) b.fill(0);
            return resolve();
          }
          let left = n;
          while (left > 0 && list.length) {
            const head = list[0]!;
            if (head.length <= left) {
              left -= head.length;
              list.shift();
            } else {
              list[0] = head.subarray(left);
              left = 0;
            }
          }
          step(pos + n);
        };
        if (write) fs.writev(fd, list, pos, cb);
        else fs.readv(fd, list, pos, cb);
      };
      step(offset);
    });
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.writev([buf], offset);
  }

  /**
   * A write that is on the disk when it completes, without waiting for the
   * rest of the file's dirty data as fdatasync would: a format driver's
   * ordering point for a few bytes of metadata (qcow2's refcounts before the
   * L2 entries that use them). It goes through a second descriptor opened
   * O_DSYNC, so Linux syncs only the written range. With cache=unsafe it is
   * a plain write (that mode promises nothing on a host crash).
   */
  writeDurable(buf: Uint8Array, offset: number): Promise<void> {
    if (this.cache === 'unsafe') return this.write(buf, offset);
    if (this.readonly) return Promise.reject(new BlockError('image is read-only', 'EROFS'));
    if (this.dsyncFd < 0) {
      try {
        this.dsyncFd = openSync(this.path, fsc.O_RDWR | fsc.O_DSYNC);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.vectored([buf], offset, true, this.dsyncFd);
  }

  /** fdatasync, except with cache=unsafe, where the guest's flushes are ignored (as in QEMU). */
  flush(): Promise<void> {
    if (this.cache === 'unsafe') return Promise.resolve();
    return this.sync();
  }

  /** fdatasync regardless of the cache mode: a format driver's ordering point for its own metadata. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.fdatasync(this.fd, (err) => {
        if (!err) return resolve();
        this.onIoError?.('flush', err);
        reject(err);
      }),
    );
  }

  /** Current length of the host file (grows as format drivers append clusters). */
  fileLength(): Promise<number> {
    return new Promise((resolve, reject) => fs.fstat(this.fd, (err, st) => (err ? reject(err) : resolve(st.size))));
  }

  /**
   * With discard=unmap, give the range back to the host file system (a hole,
   * which reads as zeros; fallocate(1) since Node has no fallocate) and fall
   * back to writing zeros where holes are unsupported; otherwise zero it.
   */
  async discard(offset: number, len: number): Promise<void> {
    if (this.readonly) throw new BlockError('image is read-only', 'EROFS');
    if (len <= 0) return;
    if (this.discardMode === 'unmap' && (await punchHole(this.path, offset, len))) return;
    await this.writeZeroes(offset, len);
  }

  /** Zero a range (also used for discard: reads of discarded blocks return zeros). */
  async writeZeroes(offset: number, len: number): Promise<void> {
    const chunk = new Uint8Array(Math.min(len, 1 << 20));
    for (let done = 0; done < len; done += chunk.length) {
      await this.write(chunk.subarray(0, Math.min(chunk.length, len - done)), offset + done);
    }
  }

  close(): Promise<void> {
    if (this.fd >= 0) closeSync(this.fd);
    if (this.dsyncFd >= 0) closeSync(this.dsyncFd);
    this.fd = -1;
    this.dsyncFd = -1;
    return Promise.resolve();
  }
}

/** Punch a hole with util-linux's fallocate; false when it is missing or the file system refuses. */
export function punchHole(path: string, offset: number, len: number): Promise<boolean> {
  return new Promise((resolve) => {
    // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
    process.getBuiltinModule('node:child_process').execFile('fallocate', ['--punch-hole', '--keep-size', '-o', String(offset), '-l', String(len), path], (err) => resolve(!err));
  });
}
