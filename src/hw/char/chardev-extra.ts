/**
 * The ring-buffer and host-pipe backends (QEMU's `-chardev ringbuf` and
 * `-chardev pipe`).
 */
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { CharDevSpecError, OutputBuffer, QueuedCharBackend } from './chardev.js';

/**
 * Keeps the last `size` bytes of output in memory (older ones are
 * overwritten); `read` drains them, `feed` supplies input (QMP's
 * ringbuf-read / ringbuf-write).
 */
export class RingBufChardev extends QueuedCharBackend {
  private readonly buf: Uint8Array;
  private head = 0; // next write position
  private count = 0;

  constructor(readonly size: number) {
    super();
    if (!(size > 0 && (size & (size - 1)) === 0)) throw new CharDevSpecError(`ringbuf size ${size} is not a power of two`, 'bad-value');
    this.buf = new Uint8Array(size);
  }

  write(byte: number): void {
    this.buf[this.head] = byte & 0xff;
    this.head = (this.head + 1) & (this.size - 1);
    if (this.count < this.size) this.count++;
  }

  /** Remove and return up to `max` of the oldest bytes. */
  read(max = this.size): Uint8Array {
    const n = Math.min(max, this.count);
    const out = new Uint8Array(n);
    let p = (this.head - this.count + this.size) & (this.size - 1);
    for (let i = 0; i < n; i++) {
      out[i] = this.buf[p]!;
      p = (p + 1) & (this.size - 1);
    }
    this.count -= n;
    return out;
  }

  feed(bytes: Uint8Array): void {
    this.pushInput(bytes);
  }

  flush(): void {}
  close(): void {}
}

/**
 * `pipe,path=P`: reads P.in and writes P.out when both exist, else uses P
 * both ways (normally FIFOs made with mkfifo). The ends are opened
 * non-blocking, so a FIFO with no writer yet does not stall the machine.
 */
export class HostPipeChardev extends QueuedCharBackend {
  private readonly rd: Socket;
  private readonly wr: Socket;
  private readonly out: OutputBuffer;
  private closed = false;

  constructor(path: string) {
    super();
    const split = existsSync(`${path}.in`) && existsSync(`${path}.out`);
    const inPath = split ? `${path}.in` : path;
    const outPath = split ? `${path}.out` : path;
    let rfd = -1;
    let wfd = -1;
    try {
      // O_RDWR keeps a FIFO open with no peer (Linux), so reads wait instead of seeing EOF and writes do not fail.
      rfd = openSync(inPath, constants.O_RDWR | constants.O_NONBLOCK);
      wfd = split ? openSync(outPath, constants.O_RDWR | constants.O_NONBLOCK) : rfd;
    } catch (e) {
      if (rfd >= 0) closeSync(rfd);
      throw new CharDevSpecError(`cannot open pipe ${path}: ${(e as Error).message}`, 'host-error');
    }
    this.rd = new Socket({ fd: rfd, readable: true, writable: !split });
    this.wr = split ? new Socket({ fd: wfd, readable: false, writable: true }) : this.rd;
    this.rd.on('data', (d: Buffer) => this.pushInput(new Uint8Array(d)));
    this.rd.on('error', () => {});
    this.wr.on('error', () => {});
    this.out = new OutputBuffer((b) => {
      if (!this.closed) this.wr.write(b);
    });
  }

  write(byte: number): void {
    this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.rd.destroy();
    if (this.wr !== this.rd) this.wr.destroy();
  }
}
