/**
 * Socket character backends (QEMU's `-chardev socket`): TCP or a Unix socket
 * path, listening (server=on, optionally waiting for the first client before
 * the machine starts) or connecting (client mode).
 *
 * A byte frontend (a UART, a virtio port) gets one client at a time, as in
 * QEMU; further connections are closed at once. A session frontend (a
 * monitor, see `serveSessions`) gets every connection as its own session, up
 * to a limit; each session's unsent output is bounded, and a client that does
 * not read is disconnected rather than buffered without end.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import { CharDevSpecError, OutputBuffer, QueuedCharBackend } from './chardev.js';
import type { SocketAddress } from './chardev-spec.js';

/** One connection handed to a session frontend. */
export interface CharSession {
  /** "127.0.0.1:34567", "unix", "stdio" ... */
  readonly peer: string;
  /** On a mux (mon:stdio): the session hears focus changes and speaks only with the focus. */
  readonly muxed?: boolean;
  write(bytes: Uint8Array): void;
  /** Disconnect (the session's `closed` is called). */
  close(): void;
}

export interface CharSessionCallbacks {
  data(bytes: Uint8Array): void;
  closed(): void;
  /** On a mux: the session gained or lost the input focus (Ctrl-A c). */
  muxEvent?(e: 'focus-in' | 'focus-out'): void;
}

/** A frontend that serves many peers at once (QMP and the human monitor). */
export interface CharSessionHandler {
  open(session: CharSession): CharSessionCallbacks;
}

/** Output a client has not read yet, per session, before it is disconnected. */
export const SESSION_MAX_PENDING = 4 * 1024 * 1024;
/** Concurrent sessions per listening socket; later clients are closed at once. */
export const MAX_SESSIONS = 64;

export interface SocketChardevOptions {
  addr: SocketAddress;
  server: boolean;
  /** Server: `ready` waits for the first client (QEMU's wait=on). */
  wait: boolean;
  nodelay?: boolean;
}

export class SocketChardev extends QueuedCharBackend {
  readonly addr: SocketAddress;
  readonly server: boolean;
  readonly wait: boolean;
  private srv: Server | null = null;
  private client: Socket | null = null;
  private readonly out: OutputBuffer;
  private sessions: CharSessionHandler | null = null;
  private readonly live = new Set<Socket>();
  private closed = false;
  private unlinkPath: string | null = null;
  /** Resolves with the bound TCP port (or 0 for a Unix socket) once listening or connected. */
  readonly listening: Promise<number>;
  /** Resolves when the first client connects (server) or the connection is made (client). */
  readonly clientConnected: Promise<void>;
  /** What the machine awaits before it starts: listening, plus the first client when wait=on; connected for a client. */
  readonly ready: Promise<void>;
  private boundPort = 0;

  constructor(opts: SocketChardevOptions) {
    super();
    this.addr = opts.addr;
    this.server = opts.server;
    this.wait = opts.wait && opts.server;
    this.connected = false;
    if (opts.addr.type === 'inet' && !(Number.isInteger(opts.addr.port) && opts.addr.port >= 0 && opts.addr.port <= 65535)) {
      throw new CharDevSpecError(`bad TCP port ${opts.addr.port}`, 'bad-port');
    }
    let connected!: () => void;
    this.clientConnected = new Promise((r) => (connected = r));
    this.out = new OutputBuffer((b) => {
      this.client?.write(b);
    });
    const nodelay = opts.nodelay ?? true;
    const adopt = (sock: Socket): void => {
      if (nodelay && opts.addr.type === 'inet') sock.setNoDelay(true);
      sock.on('error', () => {});
      if (this.sessions) {
        this.openSession(sock);
        connected();
        return;
      }
      if (this.client) {
        sock.destroy();
        return;
      }
      this.client = sock;
      sock.on('data', (d: Buffer) => this.pushInput(new Uint8Array(d)));
      sock.on('close', () => {
        if (this.client !== sock) return;
        this.client = null;
        this.setConnected(false);
      });
      this.setConnected(true);
      connected();
    };
    if (opts.server) {
      const srv = createServer({ pauseOnConnect: false }, adopt);
      this.srv = srv;
      this.listening = new Promise((resolve, reject) => {
        srv.once('error', (e) => reject(new CharDevSpecError(`cannot listen on ${this.describeAddr()}: ${e.message}`, 'host-error')));
        const done = (): void => {
          const a = srv.address();
          this.boundPort = typeof a === 'object' && a ? a.port : 0;
          resolve(this.boundPort);
        };
        if (opts.addr.type === 'inet') srv.listen(opts.addr.port, opts.addr.host, done);
        else {
          const path = opts.addr.path;
          // A stale socket left by an earlier run is replaced (as QEMU does); any other file is an error.
          try {
            if (lstatSync(path).isSocket()) unlinkSync(path);
          } catch {
            /* absent */
          }
          srv.listen(path, () => {
            this.unlinkPath = path;
            done();
          });
        }
      });
    } else {
      this.listening = new Promise((resolve, reject) => {
        const sock = opts.addr.type === 'inet' ? createConnection(opts.addr.port, opts.addr.host) : createConnection(opts.addr.path);
        sock.once('error', (e) => reject(new CharDevSpecError(`cannot connect to ${this.describeAddr()}: ${e.message}`, 'host-error')));
        sock.once('connect', () => {
          adopt(sock);
          resolve(opts.addr.type === 'inet' ? opts.addr.port : 0);
        });
      });
    }
    this.ready = this.wait ? this.listening.then(() => this.clientConnected) : this.listening.then(() => {});
    // Callers that never await these must not see an unhandled rejection.
    this.listening.catch(() => {});
    this.ready.catch(() => {});
  }

  /** The address as QEMU prints it: tcp:HOST:PORT or unix:PATH (with the bound port once known). */
  describeAddr(): string {
    if (this.addr.type === 'unix') return `unix:${this.addr.path}`;
    return `tcp:${this.addr.host}:${this.boundPort || this.addr.port}`;
  }

  /**
   * Serve every connection as its own session (monitors). Called before
   * clients arrive; a client already attached as a byte stream stays so.
   */
  serveSessions(handler: CharSessionHandler): void {
    this.sessions = handler;
  }

  private openSession(sock: Socket): void {
    if (this.live.size >= MAX_SESSIONS) {
      sock.destroy();
      return;
    }
    this.live.add(sock);
    const peer = sock.remoteAddress ? `${sock.remoteAddress}:${sock.remotePort}` : 'unix';
    let ended = false;
    const session: CharSession = {
      peer,
      write: (bytes) => {
        if (ended) return;
        if (sock.writableLength > SESSION_MAX_PENDING) {
          sock.destroy();
          return;
        }
        sock.write(bytes);
      },
      close: () => {
        sock.end();
        sock.destroySoon();
      },
    };
    const cb = this.sessions!.open(session);
    sock.on('data', (d: Buffer) => {
      if (!ended) cb.data(new Uint8Array(d.buffer, d.byteOffset, d.length));
    });
    sock.on('close', () => {
      if (ended) return;
      ended = true;
      this.live.delete(sock);
      cb.closed();
    });
  }

  /** Connected: the byte client, or any session client. */
  override get isOpen(): boolean {
    return this.connected || this.live.size > 0;
  }

  write(byte: number): void {
    if (this.client) this.out.push(byte);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.client?.destroy();
    this.client = null;
    // Sessions get their last replies out (QMP's answer to quit), then go.
    for (const s of this.live) {
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    }
    this.live.clear();
    this.srv?.close();
    if (this.unlinkPath) {
      try {
        unlinkSync(this.unlinkPath);
      } catch {
        /* already gone */
      }
    }
  }
}

/** `-serial tcp::PORT,server`: kept for callers of the older API (listens on 127.0.0.1). */
export class TcpServerBackend extends SocketChardev {
  constructor(port: number) {
    super({ addr: { type: 'inet', host: '127.0.0.1', port }, server: true, wait: false });
  }
}
