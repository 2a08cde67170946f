/**
 * The platform-free part of the character backends (chardev.ts): the
 * frontend/backend contract, the input queue every backend shares, output
 * buffering, and the null and in-memory pipe backends. A web page's terminal
 * is a PipeBackend; the host-file, stdio and socket backends stay in
 * chardev.ts and its siblings.
 */
import { runSoon } from '../../host/tasks.js';

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
      runSoon(() => {
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


/**
 * Output to a callback in batches (flushed from the host's event loop), input
 * fed by the embedder: a web page's terminal, or any program embedding a
 * machine (src/machine/create.ts). Nothing is kept once handed over.
 */
export class CallbackBackend extends QueuedCharBackend {
  private readonly out: OutputBuffer;

  constructor(sink: (bytes: Uint8Array) => void) {
    super();
    this.out = new OutputBuffer(sink);
  }

  feed(input: Uint8Array | string): void {
    this.pushInput(typeof input === 'string' ? new TextEncoder().encode(input) : input);
  }

  write(byte: number): void {
    this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    this.out.flush();
  }
}
