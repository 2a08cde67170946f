/**
 * The gdbstub's listening socket (QEMU's -gdb tcp::PORT / unix:PATH, and -s
 * for tcp::1234). It listens only on the address given (tcp::PORT means
 * loopback) and serves one debugger at a time; a second connection is
 * closed at once.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { GdbStub } from './stub.js';

export type GdbListenSpec = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export class GdbSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GdbSpecError';
  }
}

/** Parse -gdb's argument: tcp:[HOST]:PORT, tcp::PORT, :PORT, PORT or unix:PATH (server options are accepted and implied). */
export function parseGdbSpec(text: string): GdbListenSpec {
  const [main, ...flags] = text.split(',');
  for (const f of flags) {
    if (!['server', 'server=on', 'nowait', 'wait=off'].includes(f)) throw new GdbSpecError(`-gdb ${text}: unsupported option '${f}'`);
  }
  const addr = main ?? '';
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (!path) throw new GdbSpecError(`-gdb ${text}: missing socket path`);
    return { kind: 'unix', path };
  }
  const rest = addr.startsWith('tcp:') ? addr.slice(4) : addr;
  const colon = rest.lastIndexOf(':');
  const host = colon >= 0 ? rest.slice(0, colon) : '';
  const portText = colon >= 0 ? rest.slice(colon + 1) : rest;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new GdbSpecError(`-gdb ${text}: bad port '${portText}' (use tcp::PORT or unix:PATH)`);
  return { kind: 'tcp', host: host || '127.0.0.1', port };
}

export class GdbServer {
  private readonly server: Server;
  private current: Socket | null = null;
  /** Resolves with the bound address once listening ("host:port" or the socket path). */
  readonly listening: Promise<string>;

  constructor(
    private readonly stub: GdbStub,
    readonly spec: GdbListenSpec,
  ) {
    this.server = createServer((sock) => this.accept(sock));
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', (e) => reject(new GdbSpecError(`-gdb: cannot listen: ${e.message}`)));
      const done = (): void => {
        const a = this.server.address();
        resolve(typeof a === 'string' ? a : a ? `${a.address}:${a.port}` : '');
      };
      if (spec.kind === 'unix') {
        // A stale socket from an earlier run is replaced, as QEMU does; any other file is left alone.
        if (existsSync(spec.path) && lstatSync(spec.path).isSocket()) unlinkSync(spec.path);
        this.server.listen(spec.path, done);
      } else this.server.listen(spec.port, spec.host, done);
    });
  }

  private accept(sock: Socket): void {
    sock.setNoDelay(true);
    const session = this.stub.connect(
      (b) => {
        if (!sock.destroyed) sock.write(b);
      },
      () => sock.end(),
    );
    if (session === null) {
      sock.destroy();
      return;
    }
    this.current = sock;
    sock.on('data', (d: Buffer) => session.receive(d));
    const gone = (): void => {
      if (this.current === sock) this.current = null;
      session.closed();
    };
    sock.on('close', gone);
    sock.on('error', gone);
  }

  /** Stop listening; a connected debugger gets what was already written, then end of stream. */
  close(): void {
    this.current?.end();
    this.server.close();
    if (this.spec.kind === 'unix' && existsSync(this.spec.path)) {
      try {
        unlinkSync(this.spec.path);
      } catch {
        // already gone
      }
    }
  }
}
