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
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

/** What a backend needs of the device it feeds. */
export interface CharFrontend {
  /** How many input bytes the device can take right now (0 = none). */
  canReceive(): number;
  /** Deliver at most canReceive() bytes. */
  receive(bytes: Uint8Array): void;
}

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

export class CharDevSpecError extends Error {
  constructor(message: string) {
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

  attach(frontend: CharFrontend | null): void {
    this.frontend = frontend;
    this.acceptInput();
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

/** Output buffering shared by the stdio, file and TCP backends. */
class OutputBuffer {
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
}

const CTRL_A = 0x01;

/** Text printed for Ctrl-A h (our own wording; the keys are QEMU's). */
export const MUX_HELP =
  '\r\nConsole escapes (press Ctrl-A, then the key):\r\n' +
  '  Ctrl-A h    show this help\r\n' +
  '  Ctrl-A x    quit the emulator\r\n' +
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

/**
 * `-serial tcp::PORT,server`: listens on 127.0.0.1 only and serves one client
 * at a time; a second connection is closed at once. Output while no client is
 * connected is dropped (QEMU's `nowait` behaviour; the machine may await
 * `clientConnected` first to get QEMU's default of waiting).
 */
export class TcpServerBackend extends QueuedCharBackend {
  private readonly server: Server;
  private client: Socket | null = null;
  private readonly out: OutputBuffer;
  /** Resolves with the bound port once listening (useful with port 0). */
  readonly listening: Promise<number>;
  readonly clientConnected: Promise<void>;

  constructor(port: number) {
    super();
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new CharDevSpecError(`bad TCP port ${port}`);
    }
    let connected!: () => void;
    this.clientConnected = new Promise((r) => (connected = r));
    this.out = new OutputBuffer((b) => {
      this.client?.write(b);
    });
    this.server = createServer((sock) => {
      if (this.client) {
        sock.destroy();
        return;
      }
      this.client = sock;
      sock.setNoDelay(true);
      sock.on('data', (d: Buffer) => this.pushInput(new Uint8Array(d)));
      sock.on('error', () => {});
      sock.on('close', () => {
        if (this.client === sock) this.client = null;
      });
      connected();
    });
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', (e) => reject(new CharDevSpecError(`cannot listen on 127.0.0.1:${port}: ${e.message}`)));
      this.server.listen(port, '127.0.0.1', () => {
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
    // Callers that never await `listening` must not see an unhandled rejection.
    this.listening.catch(() => {});
  }

  write(byte: number): void {
    if (this.client) this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    this.flush();
    this.client?.destroy();
    this.client = null;
    this.server.close();
  }
}

export interface CharSpecDeps {
  onQuit?: () => void;
  stdin?: StdinLike;
  stdout?: StdoutLike;
}

/**
 * Build a backend from QEMU's `-serial` syntax: `stdio`, `null`,
 * `file:PATH`, `tcp::PORT,server[,nowait|,wait=off]` (host must be empty,
 * 127.0.0.1 or localhost: tsvmm never listens on other interfaces).
 */
export function createCharBackend(spec: string, deps: CharSpecDeps = {}): CharBackend {
  if (spec === 'stdio' || spec === 'mon:stdio') return new StdioBackend(deps);
  if (spec === 'null' || spec === 'none') return new NullBackend();
  if (spec.startsWith('file:')) {
    const path = spec.slice(5);
    if (!path) throw new CharDevSpecError(`-serial file: needs a path`);
    return new FileBackend(path);
  }
  if (spec.startsWith('tcp:')) {
    const parts = spec.slice(4).split(',');
    const hostPort = parts[0]!;
    const colon = hostPort.lastIndexOf(':');
    const host = colon >= 0 ? hostPort.slice(0, colon) : '';
    const portText = colon >= 0 ? hostPort.slice(colon + 1) : hostPort;
    if (host !== '' && host !== '127.0.0.1' && host !== 'localhost') {
      throw new CharDevSpecError(`-serial ${spec}: only 127.0.0.1 is supported as a listen address`);
    }
    const opts = parts.slice(1);
    if (!opts.includes('server') && !opts.includes('server=on')) {
      throw new CharDevSpecError(`-serial ${spec}: only server mode is supported (add ",server")`);
    }
    for (const o of opts) {
      if (!['server', 'server=on', 'nowait', 'wait=off', 'wait=on'].includes(o)) {
        throw new CharDevSpecError(`-serial ${spec}: unknown option "${o}"`);
      }
    }
    if (!/^\d+$/.test(portText)) throw new CharDevSpecError(`-serial ${spec}: bad port "${portText}"`);
    return new TcpServerBackend(Number(portText));
  }
  throw new CharDevSpecError(`-serial ${spec}: unsupported backend (stdio, null, file:PATH, tcp::PORT,server)`);
}
