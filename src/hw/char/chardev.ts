/**
 * Character backends (QEMU's Chardev): where a UART's bytes go and where its
 * input comes from. A frontend (the serial device) attaches to one backend.
 *
 * Input is never lost: a backend keeps whatever the outside world sent in a
 * queue and hands the frontend only as many bytes as `canReceive()` allows; the
 * frontend calls `acceptInput()` whenever it has made room (QEMU's
 * qemu_chr_fe_accept_input).
 *
 * Output is buffered per backend and flushed from the host's event loop
 * (setImmediate), so a guest printing byte by byte does not make one syscall
 * per byte; `flush()` forces it (the machine calls it before exiting).
 *
 * The socket, ring-buffer and host-pipe backends live in their own modules
 * (chardev-socket.ts, chardev-extra.ts); `-chardev` and QEMU's legacy specs are
 * parsed by chardev-spec.ts and built by chardev-registry.ts, which keeps the
 * backends by id so frontends (serial, virtio-serial, monitors) look them up.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export * from './chardev-core.js';
import { OutputBuffer, QueuedCharBackend, CharDevSpecError } from './chardev-core.js';

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
  /** A stream's failures (process.stdout's EPIPE when the reader went away). */
  on?(event: 'error', listener: (err: Error) => void): unknown;
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
  /** Where the backend reports its output failing (default: standard error). */
  log?: (message: string) => void;
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
  /** Set when stdout failed: what the guest writes from then on is dropped. */
  private outFailed = false;
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
    this.out = new OutputBuffer((b) => this.emit(b));
    // A reader that goes away (`tsvmm run ... | head`) fails the stream's writes (EPIPE); unheard,
    // that error would end the process. QEMU goes on running with its console's output dropped;
    // so does this backend, and says so once.
    const log = opts.log ?? ((m: string) => void process.stderr.write(`${m}\n`));
    this.stdout.on?.('error', (err) => {
      if (this.outFailed) return;
      this.outFailed = true;
      log(`tsvmm: console output failed (${(err as NodeJS.ErrnoException).code ?? err.message}); the guest's further output is dropped`);
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
          this.emit(new TextEncoder().encode('\r\ntsvmm: terminating on signal from console\r\n'));
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
          this.emit(new TextEncoder().encode(MUX_HELP));
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

  private emit(bytes: Uint8Array): void {
    if (!this.outFailed) this.stdout.write(bytes);
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

