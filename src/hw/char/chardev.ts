/**
 * Character backends (QEMU's Chardev): where a UART's bytes go and where its
 * input comes from. A frontend (the serial device) attaches to one backend.
 *
 * Input is never lost: a backend keeps whatever the outside world sent in a
 * queue and hands the frontend only as many bytes as `canReceive()` allows; the
 * frontend calls `acceptInput()` whenever it has made room (QEMU's
 * qemu_chr_fe_accept_input).
 *
 * Output is buffered per backend and flushed from Node's event loop
 * (setImmediate), so a guest printing byte by byte does not make one syscall
 * per byte; `flush()` forces it (the machine calls it before exiting).
 *
 * The socket, ring-buffer and host-pipe backends live in their own modules
 * (chardev-socket.ts, chardev-extra.ts); `-chardev` and QEMU's legacy specs are
 * parsed by chardev-spec.ts and built by chardev-registry.ts, which keeps the
 * backends by id so frontends (serial, virtio-serial, monitors) look them up.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

/** What a backend needs of the device it feeds. */
export interface CharFrontend {
  /** How many input bytes the device can take right now (0 = none). */
  canReceive(): number;
  /** Deliver at most canReceive() bytes. */
  receive(bytes: Uint8Array): void;
  /**
   * The other end came or went (QEMU's CHR_EVENT_OPENED/CLOSED): a socket
   * client connected or disconnected. Backends that are always open (stdio,
   * file, null) report 'opened' once, on attach. Optional.
   */
  event?(e: CharEvent): void;
}

export type CharEvent = 'opened' | 'closed';

export interface CharBackend {
  attach(frontend: CharFrontend | null): void;
  /** One byte of guest output. */
  write(byte: number): void;
  /** The frontend made room: deliver queued input now. */
  acceptInput(): void;
  /** Push buffered output to its destination. */
  flush(): void;
  /** Release host resources (restore the TTY, close files and sockets). */
  close(): void;
}

/** Why a chardev spec or backend was refused (a parser counter per reason, as Firecracker's parsers keep). */
export type CharSpecFailure =
  | 'invalid'
  | 'missing-id'
  | 'bad-id'
  | 'duplicate-id'
  | 'unknown-backend'
  | 'unsupported-backend'
  | 'unknown-option'
  | 'bad-value'
  | 'missing-path'
  | 'bad-port'
  | 'conflict'
  | 'host-error';

export class CharDevSpecError extends Error {
  constructor(
    message: string,
    readonly reason: CharSpecFailure = 'invalid',
  ) {
    super(message);
    this.name = 'CharDevSpecError';
  }
}

/**
 * The input queue and frontend plumbing every backend shares. Subclasses call
 * `pushInput` with bytes from the outside and implement `emit` for output.
 */
export abstract class QueuedCharBackend implements CharBackend {
  private frontend: CharFrontend | null = null;
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0; // offset into queue[0]
  private delivering = false;
  /** Whether the other end is there (always, except for sockets between clients). */
  protected connected = true;

  attach(frontend: CharFrontend | null): void {
    this.frontend = frontend;
    if (frontend && this.connected) frontend.event?.('opened');
    this.acceptInput();
  }

  /** Whether a peer is connected (a socket's client; always true for the others). */
  get isOpen(): boolean {
    return this.connected;
  }

  /** Report a connect or disconnect to the frontend; a disconnect drops input not yet delivered. */
  protected setConnected(open: boolean): void {
    if (open === this.connected) return;
    this.connected = open;
    if (!open) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    this.frontend?.event?.(open ? 'opened' : 'closed');
  }

  /** Bytes waiting for the frontend to make room. */
  get queuedInput(): number {
    let n = 0;
    for (const c of this.queue) n += c.length;
    return n - this.queueHead;
  }

  protected pushInput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.queue.push(bytes.slice());
    this.acceptInput();
  }

  acceptInput(): void {
    // A frontend may call back into acceptInput from receive(); the outer loop finishes the job.
    if (this.delivering || !this.frontend) return;
    this.delivering = true;
    try {
      while (this.queue.length > 0) {
        const room = this.frontend.canReceive();
        if (room <= 0) break;
        const chunk = this.queue[0]!;
        const n = Math.min(room, chunk.length - this.queueHead);
        const piece = chunk.subarray(this.queueHead, this.queueHead + n);
        this.queueHead += n;
        if (this.queueHead >= chunk.length) {
          this.queue.shift();
          this.queueHead = 0;
        }
        this.frontend.receive(piece);
      }
    } finally {
      this.delivering = false;
    }
  }

  abstract write(byte: number): void;
  abstract flush(): void;
  abstract close(): void;
}

/** Output buffering shared by the stdio, file and socket backends. */
export class OutputBuffer {
  private buf = new Uint8Array(4096);
  private len = 0;
  private scheduled = false;
  constructor(private readonly sink: (bytes: Uint8Array) => void) {}

  push(byte: number): void {
    if (this.len === this.buf.length) this.flush();
    this.buf[this.len++] = byte & 0xff;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  flush(): void {
    if (this.len === 0) return;
    // The sink may keep the bytes (stream.write does), so hand it a copy.
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    this.sink(out);
  }
}

/** Discards output, never produces input (QEMU's `-serial null`). */
export class NullBackend extends QueuedCharBackend {
  write(): void {}
  flush(): void {}
  close(): void {}
}

/**
 * An in-memory pipe for tests and embedding: `feed` supplies input, output is
 * captured synchronously (no buffering delay).
 */
export class PipeBackend extends QueuedCharBackend {
  private out: number[] = [];
  private readonly listeners: Array<(byte: number) => void> = [];

  feed(input: Uint8Array | string): void {
    this.pushInput(typeof input === 'string' ? new TextEncoder().encode(input) : input);
  }

  /** Called for every output byte as it is written. */
  onOutput(fn: (byte: number) => void): void {
    this.listeners.push(fn);
  }

  write(byte: number): void {
    this.out.push(byte & 0xff);
    for (const l of this.listeners) l(byte & 0xff);
  }

  output(): Uint8Array {
    return Uint8Array.from(this.out);
  }

  outputText(): string {
    return new TextDecoder('latin1').decode(this.output());
  }

  clearOutput(): void {
    this.out = [];
  }

  flush(): void {}
  close(): void {}
}

/** Writes guest output to a file (QEMU's `-serial file:PATH`); no input. */
export class FileBackend extends QueuedCharBackend {
  private fd: number | null;
  private readonly out: OutputBuffer;

  constructor(path: string) {
    super();
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new CharDevSpecError(`cannot open serial output file ${path}: ${(e as Error).message}`);
    }
    this.out = new OutputBuffer((b) => {
      if (this.fd !== null) writeSync(this.fd, b);
    });
  }

  write(byte: number): void {
    this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** The part of process.stdin a StdioBackend uses (tests pass a PassThrough). */
export interface StdinLike {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', fn: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', fn: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface StdoutLike {
  write(bytes: Uint8Array): unknown;
}

export interface StdioBackendOptions {
  stdin?: StdinLike;
  stdout?: StdoutLike;
  /** Ctrl-A x. */
  onQuit?: () => void;
  /** Interpret Ctrl-A escapes; default: only when stdin is a TTY (QEMU's mux in -nographic). */
  mux?: boolean;
  /** Ctrl-A c: switch the console between the guest and the monitor (see MuxChardev). */
  onSwitchFocus?: () => void;
}

const CTRL_A = 0x01;

/** Text printed for Ctrl-A h (our own wording; the keys are QEMU's). */
export const MUX_HELP =
  '\r\nConsole escapes (press Ctrl-A, then the key):\r\n' +
  '  Ctrl-A h    show this help\r\n' +
  '  Ctrl-A x    quit the emulator\r\n' +
  '  Ctrl-A c    switch between the console and the monitor\r\n' +
  '  Ctrl-A a    send a literal Ctrl-A to the guest\r\n' +
  '  Ctrl-A Ctrl-A  likewise\r\n';

/**
 * The console on the host terminal. With a TTY, stdin is put in raw mode (so
 * Ctrl-C reaches the guest) and Ctrl-A escapes are interpreted as QEMU's mux
 * does; with pipes, bytes pass through unchanged.
 */
export class StdioBackend extends QueuedCharBackend {
  private readonly stdin: StdinLike;
  private readonly stdout: StdoutLike;
  private readonly onQuit: () => void;
  private readonly onSwitchFocus: (() => void) | null;
  private readonly mux: boolean;
  private readonly raw: boolean;
  private escaped = false;
  private closed = false;
  private readonly out: OutputBuffer;
  private readonly onData = (chunk: Buffer | string): void => this.input(chunk);

  constructor(opts: StdioBackendOptions = {}) {
    super();
    this.stdin = opts.stdin ?? process.stdin;
    this.stdout = opts.stdout ?? process.stdout;
    this.onQuit = opts.onQuit ?? (() => {});
    this.onSwitchFocus = opts.onSwitchFocus ?? null;
    const tty = this.stdin.isTTY === true;
    this.mux = opts.mux ?? tty;
    this.raw = tty && typeof this.stdin.setRawMode === 'function';
    if (this.raw) this.stdin.setRawMode!(true);
    this.out = new OutputBuffer((b) => {
      this.stdout.write(b);
    });
    this.stdin.on('data', this.onData);
    this.stdin.resume();
  }

  private input(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    if (!this.mux) {
      this.pushInput(bytes);
      return;
    }
    const pass: number[] = [];
    for (const b of bytes) {
      if (this.escaped) {
        this.escaped = false;
        const c = String.fromCharCode(b);
        if (c === 'x') {
          if (pass.length) this.pushInput(Uint8Array.from(pass));
          pass.length = 0;
          this.flush();
          this.stdout.write(new TextEncoder().encode('\r\ntsvmm: terminating on signal from console\r\n'));
          this.onQuit();
          continue;
        }
        if (c === 'c' && this.onSwitchFocus) {
          // Bytes typed before the switch belong to the old focus.
          if (pass.length) this.pushInput(Uint8Array.from(pass));
          pass.length = 0;
          this.onSwitchFocus();
          continue;
        }
        if (c === 'h' || c === '?') {
          this.flush();
          this.stdout.write(new TextEncoder().encode(MUX_HELP));
        } else if (c === 'a' || b === CTRL_A) {
          pass.push(CTRL_A);
        }
        // Any other key after Ctrl-A is swallowed, as QEMU's mux does.
        continue;
      }
      if (b === CTRL_A) this.escaped = true;
      else pass.push(b);
    }
    if (pass.length) this.pushInput(Uint8Array.from(pass));
  }

  write(byte: number): void {
    this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.stdin.off('data', this.onData);
    if (this.raw) this.stdin.setRawMode!(false);
    this.stdin.pause();
  }
}

