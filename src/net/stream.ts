/**
 * `-netdev stream` and `-netdev socket,listen=|connect=`: QEMU's frame
 * protocol over TCP or a UNIX socket, so two tsvmm VMs, or tsvmm and QEMU,
 * share an Ethernet link. A listening side serves one peer at a time (a
 * second connection is closed at once, as QEMU does) and takes the next one
 * when the first goes away; a connecting side connects once, at start-up.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { NetdevSpecError, StreamLink } from './backend.js';

export type StreamAddress = { kind: 'inet'; host: string; port: number } | { kind: 'unix'; path: string };

export function describe(a: StreamAddress): string {
  return a.kind === 'inet' ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : `unix:${a.path}`;
}

export class StreamServerLink extends StreamLink {
  private readonly server: Server;
  /** Resolves once listening (the bound address), rejects with a NetdevSpecError. */
  readonly ready: Promise<StreamAddress>;

  constructor(
    id: string,
    readonly type: string,
    private readonly addr: StreamAddress,
    log: (message: string) => void,
  ) {
    super(id, log);
    this.server = createServer((sock) => {
      if (this.sock || this.closed) {
        sock.destroy();
        return;
      }
      this.adopt(sock);
    });
    this.ready = new Promise((resolve, reject) => {
      this.server.once('error', (e) => reject(new NetdevSpecError(`-netdev ${type},id=${id}: cannot listen on ${describe(addr)}: ${e.message}`)));
      const done = (): void => {
        const a = this.server.address();
        resolve(addr.kind === 'inet' && typeof a === 'object' && a ? { kind: 'inet', host: addr.host, port: a.port } : addr);
      };
      if (addr.kind === 'inet') this.server.listen(addr.port, addr.host || '0.0.0.0', done);
      else this.server.listen(addr.path, done);
    });
    this.ready.catch(() => {});
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.server.close();
    if (this.addr.kind === 'unix') {
      try {
        unlinkSync(this.addr.path);
      } catch {
        // already gone
      }
    }
  }
}

export class StreamClientLink extends StreamLink {
  /** Resolves when connected, rejects with a NetdevSpecError when the peer is not there. */
  readonly ready: Promise<void>;

  constructor(
    id: string,
    readonly type: string,
    addr: StreamAddress,
    log: (message: string) => void,
  ) {
    super(id, log);
    this.ready = new Promise((resolve, reject) => {
      const sock: Socket = addr.kind === 'inet' ? createConnection({ host: addr.host, port: addr.port }) : createConnection({ path: addr.path });
      const fail = (e: Error): void => reject(new NetdevSpecError(`-netdev ${type},id=${id}: cannot connect to ${describe(addr)}: ${e.message}`));
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.off('error', fail);
        this.adopt(sock);
        resolve();
      });
    });
    this.ready.catch(() => {});
  }

  protected override onDisconnect(): void {
    if (!this.closed) this.log(`tsvmm: netdev ${this.id}: the peer closed the connection; link down`);
  }
}
