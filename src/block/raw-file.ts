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

  constructor(readonly path: string, opts: RawFileOptions = {}) {
    this.readonly = opts.readonly ?? false;
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

  /** Read into `buf` from `offset`; resolves with the bytes read (short at end of file: the rest is zero-filled). */
  read(buf: Uint8Array, offset: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        if (done >= buf.length) return resolve();
        fs.read(this.fd, buf, done, buf.length - done, offset + done, (err, n) => {
          if (err) return reject(err);
          if (n === 0) {
            buf.fill(0, done);
            return resolve();
          }
          step(done + n);
        });
      };
      step(0);
    });
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) return Promise.reject(new BlockError('image is read-only'));
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        if (done >= buf.length) return resolve();
        fs.write(this.fd, buf, done, buf.length - done, offset + done, (err, n) => {
          if (err) return reject(err);
          step(done + n);
        });
      };
      step(0);
    });
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
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
