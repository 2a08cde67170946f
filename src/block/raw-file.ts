import { closeSync, fstatSync, openSync, constants as fsc } from 'node:fs';
import * as fs from 'node:fs';

/** A host error opening or using a disk image; the CLI prints its message and exits 1. */
export class BlockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockError';
  }
}

export interface RawFileOptions {
  readonly?: boolean;
  /** Told of every host I/O error before the request fails (the monitors' BLOCK_IO_ERROR event). */
  onIoError?: (operation: 'read' | 'write' | 'flush', error: Error) => void;
}

/**
 * A raw disk image on the host. Every operation is asynchronous through
 * Node's fs (the libuv thread pool), so guest I/O never blocks the event
 * loop; `flush` is fdatasync, so data the guest flushed is on the host disk.
 * Offsets are JS numbers: images up to 2^53 bytes.
 */
export class RawFile {
  readonly size: number;
  readonly readonly: boolean;
  private fd: number;
  private readonly onIoError: RawFileOptions['onIoError'];

  constructor(readonly path: string, opts: RawFileOptions = {}) {
    this.readonly = opts.readonly ?? false;
    this.onIoError = opts.onIoError;
    try {
      this.fd = openSync(path, this.readonly ? fsc.O_RDONLY : fsc.O_RDWR);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EACCES' || err.code === 'EROFS' || err.code === 'EPERM') {
        throw new BlockError(
          this.readonly
            ? `could not open disk image ${path}: permission denied`
            : `could not open disk image ${path} for writing: ${err.code === 'EROFS' ? 'read-only file system' : 'permission denied'} (use readonly=on)`,
        );
      }
      if (err.code === 'ENOENT') throw new BlockError(`could not open disk image ${path}: no such file`);
      throw new BlockError(`could not open disk image ${path}: ${err.message}`);
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
    if (this.readonly) return Promise.reject(new BlockError('image is read-only'));
    return this.vectored(bufs, offset, true);
  }

  private vectored(bufs: Uint8Array[], offset: number, write: boolean): Promise<void> {
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
        if (write) fs.writev(this.fd, list, pos, cb);
        else fs.readv(this.fd, list, pos, cb);
      };
      step(offset);
    });
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.writev([buf], offset);
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.fdatasync(this.fd, (err) => {
        if (!err) return resolve();
        this.onIoError?.('flush', err);
        reject(err);
      }),
    );
  }

  /** Zero a range (also used for discard: reads of discarded blocks return zeros). */
  async writeZeroes(offset: number, len: number): Promise<void> {
    const chunk = new Uint8Array(Math.min(len, 1 << 20));
    for (let done = 0; done < len; done += chunk.length) {
      await this.write(chunk.subarray(0, Math.min(chunk.length, len - done)), offset + done);
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
