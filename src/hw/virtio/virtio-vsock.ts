/**
 * virtio-vsock served in user space, with guest connections mapped to host
 * UNIX sockets the way Firecracker does it (docs/sharing.md):
 *
 * - host to guest: a host program connects to the UNIX socket `uds` and
 *   writes `CONNECT <port>\n`; tsvmm opens a stream to the guest's port and
 *   answers `OK <host port>\n`, then the socket carries the stream (it is
 *   closed if the guest refuses);
 * - guest to host: a guest connection to CID 2, port P, is connected to the
 *   UNIX socket `<uds>_P` (refused with RST when nothing listens there).
 *
 * Flow control is the protocol's credit: we never send the guest more than
 * the buffer it advertised, and we advertise a fixed buffer whose consumed
 * count advances only once the host socket took the bytes (a slow host
 * reader pushes back on the guest instead of growing our memory).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { VirtioDevice, type VirtioDeviceDeps } from './virtio-device.js';
import type { VirtqElement, Virtqueue } from './virtqueue.js';
import { gather, scatter } from './virtio-blk.js';

export const VIRTIO_ID_VSOCK = 19;
export const VSOCK_HOST_CID = 2;
export const VSOCK_HDR = 44;
export const VSOCK_TYPE_STREAM = 1;

export const OP_REQUEST = 1;
export const OP_RESPONSE = 2;
export const OP_RST = 3;
export const OP_SHUTDOWN = 4;
export const OP_RW = 5;
export const OP_CREDIT_UPDATE = 6;
export const OP_CREDIT_REQUEST = 7;
export const SHUTDOWN_RCV = 1;
export const SHUTDOWN_SEND = 2;

/** The receive buffer we advertise per connection. */
const BUF_ALLOC = 256 * 1024;
/** Largest payload taken from one guest packet. */
const MAX_PKT = 64 * 1024;
/** Control packets queued for a guest that posts no receive buffers. */
const MAX_PENDING = 4096;
const MAX_CONNECTIONS = 1024;
/** First host-side port handed to host-initiated connections. */
const FIRST_LOCAL_PORT = 1 << 30;

export interface VsockHeader {
  srcCid: number;
  dstCid: number;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

function u64(dv: DataView, at: number): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
}

export function parseVsockHeader(b: Uint8Array): VsockHeader {
  const dv = new DataView(b.buffer, b.byteOffset, VSOCK_HDR);
  return {
    srcCid: u64(dv, 0),
    dstCid: u64(dv, 8),
    srcPort: dv.getUint32(16, true),
    dstPort: dv.getUint32(20, true),
    len: dv.getUint32(24, true),
    type: dv.getUint16(28, true),
    op: dv.getUint16(30, true),
    flags: dv.getUint32(32, true),
    bufAlloc: dv.getUint32(36, true),
    fwdCnt: dv.getUint32(40, true),
  };
}

interface Conn {
  key: string;
  guestPort: number;
  hostPort: number;
  sock: Socket;
  /** 'connecting': waiting for the guest's RESPONSE (host-initiated) or the host socket (guest-initiated). */
  state: 'connecting' | 'open' | 'closed';
  peerBufAlloc: number;
  peerFwdCnt: number;
  /** Bytes sent to the guest. */
  txCnt: number;
  /** Bytes from the guest the host socket has taken. */
  fwdCnt: number;
  /** fwdCnt last reported to the guest. */
  lastReportedFwd: number;
  /** Host bytes waiting for guest credit. */
  pending: Uint8Array[];
  hostInitiated: boolean;
  /** The host ended while bytes still waited for credit: SHUTDOWN follows them. */
  endAfterPending: boolean;
  /** Bytes written to the host socket that it has not flushed yet (counted as consumed on 'drain'). */
  unflushed: number;
  /** Host-initiated only: the `CONNECT <port>` line is still being read. */
  handshake: string | null;
}

export interface VirtioVsockOptions {
  guestCid: number;
  /** The host UNIX socket path (see the module comment); null: no host side, every guest connection is refused. */
  uds: string | null;
}

export class VirtioVsock extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_VSOCK;
  private readonly cfg = new Uint8Array(8);
  private readonly conns = new Map<string, Conn>();
  private readonly rxBufs: VirtqElement[] = [];
  private readonly eventBufs: VirtqElement[] = [];
  /** Packets waiting for receive buffers: header fields plus payload. */
  private readonly out: Array<{ hdr: Uint8Array; data: Uint8Array | null }> = [];
  private nextLocalPort = FIRST_LOCAL_PORT;
  private server: Server | null = null;
  readonly guestCid: number;
  readonly uds: string | null;
  /** Packets dropped as malformed or misaddressed (tests). */
  dropped = 0;

  constructor(deps: VirtioDeviceDeps, opts: VirtioVsockOptions) {
    super('vhost-vsock', deps, 3, 128);
    this.guestCid = opts.guestCid;
    this.uds = opts.uds;
    const dv = new DataView(this.cfg.buffer);
    dv.setUint32(0, opts.guestCid % 0x100000000, true);
    dv.setUint32(4, Math.floor(opts.guestCid / 0x100000000), true);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  /** Start accepting host connections on `uds`. Resolves once listening. */
  listen(): Promise<void> {
    if (!this.uds) return Promise.resolve();
    try {
      unlinkSync(this.uds); // a stale socket file from an earlier run
    } catch {
      /* none */
    }
    // Half-open: a host that ends its side (no more to send) still hears the guest's answer.
    const server = createServer({ allowHalfOpen: true }, (sock) => this.hostConnected(sock));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.uds!, () => {
        server.off('error', reject);
        server.unref();
        resolve();
      });
    });
  }

  close(): void {
    this.resetDevice();
    this.server?.close();
    this.server = null;
  }

  protected override resetDevice(): void {
    for (const c of this.conns.values()) {
      c.state = 'closed';
      c.sock.destroy();
    }
    this.conns.clear();
    this.rxBufs.length = 0;
    this.eventBufs.length = 0;
    this.out.length = 0;
  }

  private get driverOk(): boolean {
    return (this.status & 4) !== 0 && (this.status & 64) === 0;
  }

  // ---- host side ----

  private hostConnected(sock: Socket): void {
    if (!this.driverOk || this.conns.size >= MAX_CONNECTIONS) {
      sock.destroy();
      return;
    }
    const hostPort = this.allocLocalPort();
    const c: Conn = {
      key: '',
      guestPort: 0,
      hostPort,
      sock,
      state: 'connecting',
      peerBufAlloc: 0,
      peerFwdCnt: 0,
      txCnt: 0,
      fwdCnt: 0,
      lastReportedFwd: 0,
      pending: [],
      unflushed: 0,
      endAfterPending: false,
      hostInitiated: true,
      handshake: '',
    };
    sock.on('error', () => {});
    sock.on('drain', () => this.flushed(c));
    const onData = (d: Buffer): void => {
      if (c.handshake === null) return this.fromHost(c, new Uint8Array(d));
      c.handshake += d.toString('latin1');
      const nl = c.handshake.indexOf('\n');
      if (nl < 0) {
        if (c.handshake.length > 64) sock.destroy();
        return;
      }
      const m = /^CONNECT (\d{1,10})$/.exec(c.handshake.slice(0, nl).trim());
      const rest = Buffer.from(c.handshake.slice(nl + 1), 'latin1');
      c.handshake = null;
      if (!m || Number(m[1]) > 0xffffffff) {
        sock.destroy();
        return;
      }
      c.guestPort = Number(m[1]);
      c.key = `${c.guestPort}:${c.hostPort}`;
      this.conns.set(c.key, c);
      // Bytes after the line wait for the guest to accept.
      if (rest.length) c.pending.push(new Uint8Array(rest));
      sock.pause();
      this.send(c, OP_REQUEST, 0, null);
    };
    sock.on('data', onData);
    sock.on('close', () => this.hostClosed(c));
    sock.on('end', () => this.hostEnded(c));
  }

  private allocLocalPort(): number {
    for (;;) {
      const p = this.nextLocalPort;
      this.nextLocalPort = this.nextLocalPort >= 0xfffffffe ? FIRST_LOCAL_PORT : this.nextLocalPort + 1;
      let used = false;
      for (const c of this.conns.values()) if (c.hostPort === p) used = true;
      if (!used) return p;
    }
  }

  private fromHost(c: Conn, d: Uint8Array): void {
    if (c.state !== 'open') {
      c.pending.push(d);
      return;
    }
    c.pending.push(d);
    this.pumpConn(c);
  }

  /** Send host bytes the guest has credit for; pause the host socket when it has none. */
  private pumpConn(c: Conn): void {
    if (c.state !== 'open') return;
    while (c.pending.length) {
      const credit = c.peerBufAlloc - ((c.txCnt - c.peerFwdCnt) >>> 0);
      if (credit <= 0) break;
      const chunk = c.pending[0]!;
      const n = Math.min(chunk.length, credit, MAX_PKT);
      const part = chunk.subarray(0, n);
      if (n === chunk.length) c.pending.shift();
      else c.pending[0] = chunk.subarray(n);
      c.txCnt = (c.txCnt + n) >>> 0;
      this.send(c, OP_RW, 0, part);
    }
    if (c.pending.length) c.sock.pause();
    else {
      c.sock.resume();
      if (c.endAfterPending) {
        c.endAfterPending = false;
        this.send(c, OP_SHUTDOWN, SHUTDOWN_SEND, null);
      }
    }
  }

  /** The host will send no more; it may still read (half-open), so only SEND is shut. */
  private hostEnded(c: Conn): void {
    if (c.pending.length || c.state === 'connecting') c.endAfterPending = true;
    else if (c.state === 'open') this.send(c, OP_SHUTDOWN, SHUTDOWN_SEND, null);
  }

  private hostClosed(c: Conn): void {
    if (c.state === 'closed') return;
    if (this.conns.get(c.key) === c) {
      // Pending bytes the guest had no credit for are lost with the connection, as on any reset.
      this.send(c, OP_RST, 0, null);
      this.conns.delete(c.key);
    }
    c.state = 'closed';
  }

  // ---- guest side ----

  protected handleQueue(q: Virtqueue): void {
    if (q.index === 0) {
      for (let e = q.pop(); e; e = q.pop()) this.rxBufs.push(e);
      this.flushOut();
      return;
    }
    if (q.index === 2) {
      // Event buffers (transport reset notices) are held; tsvmm never resets a live transport.
      for (let e = q.pop(); e; e = q.pop()) this.eventBufs.push(e);
      return;
    }
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      const hdrBytes = elem.outLen >= VSOCK_HDR ? gather(this.mem!, elem.out, 0, VSOCK_HDR) : null;
      if (!hdrBytes) {
        this.dropped++;
        this.guestError(`${this.name}: transmit packet without a ${VSOCK_HDR}-byte header`);
        this.complete(q, elem, 0);
        continue;
      }
      const h = parseVsockHeader(hdrBytes);
      const len = Math.min(h.len, elem.outLen - VSOCK_HDR, MAX_PKT);
      const data = h.op === OP_RW && len > 0 ? gather(this.mem!, elem.out, VSOCK_HDR, len) : null;
      this.complete(q, elem, 0);
      this.fromGuest(h, data);
    }
  }

  private fromGuest(h: VsockHeader, data: Uint8Array | null): void {
    if (h.srcCid !== this.guestCid || h.dstCid !== VSOCK_HOST_CID || h.type !== VSOCK_TYPE_STREAM) {
      this.dropped++;
      this.guestError(`${this.name}: packet from cid ${h.srcCid} to cid ${h.dstCid} type ${h.type} dropped`);
      if (h.op !== OP_RST && h.type === VSOCK_TYPE_STREAM && h.srcCid === this.guestCid) this.rstTo(h);
      return;
    }
    const key = `${h.srcPort}:${h.dstPort}`;
    const c = this.conns.get(key);
    if (!c) {
      if (h.op === OP_REQUEST) return this.guestConnect(h);
      if (h.op !== OP_RST) this.rstTo(h);
      return;
    }
    c.peerBufAlloc = h.bufAlloc;
    c.peerFwdCnt = h.fwdCnt;
    switch (h.op) {
      case OP_RESPONSE:
        if (c.state === 'connecting' && c.hostInitiated) {
          c.state = 'open';
          c.sock.write(`OK ${c.hostPort}\n`);
          c.sock.resume();
        }
        break;
      case OP_RW:
        if (c.state !== 'open' || !data) break;
        if (c.sock.writableLength + data.length > 2 * BUF_ALLOC) {
          // More than the credit we gave: the guest ignores flow control. Reset rather than buffer without bound.
          this.guestError(`${this.name}: guest port ${c.guestPort} sent past its credit; connection reset`);
          this.send(c, OP_RST, 0, null);
          this.conns.delete(c.key);
          c.state = 'closed';
          c.sock.destroy();
          return;
        }
        if (c.sock.write(data)) this.consumed(c, data.length);
        else c.unflushed += data.length;
        return;
      case OP_CREDIT_UPDATE:
        break;
      case OP_CREDIT_REQUEST:
        this.send(c, OP_CREDIT_UPDATE, 0, null);
        break;
      case OP_SHUTDOWN:
        if (h.flags & SHUTDOWN_SEND) c.sock.end();
        if ((h.flags & (SHUTDOWN_SEND | SHUTDOWN_RCV)) === (SHUTDOWN_SEND | SHUTDOWN_RCV)) {
          // Both directions shut: the connection is over; RST tells the guest we agree.
          this.send(c, OP_RST, 0, null);
          this.conns.delete(c.key);
          c.state = 'closed';
          c.sock.end();
        }
        return;
      case OP_RST:
        this.conns.delete(c.key);
        c.state = 'closed';
        c.sock.destroy();
        return;
      case OP_REQUEST:
        // A second REQUEST on a live connection is a protocol error: reset it.
        this.send(c, OP_RST, 0, null);
        this.conns.delete(c.key);
        c.state = 'closed';
        c.sock.destroy();
        return;
    }
    this.pumpConn(c);
  }

  private flushed(c: Conn): void {
    const n = c.unflushed;
    c.unflushed = 0;
    if (n) this.consumed(c, n);
  }

  private consumed(c: Conn, n: number): void {
    c.fwdCnt = (c.fwdCnt + n) >>> 0;
    // Tell the guest about freed space once a quarter of the buffer has drained (not per packet).
    if (c.state === 'open' && ((c.fwdCnt - c.lastReportedFwd) >>> 0) >= BUF_ALLOC / 4) this.send(c, OP_CREDIT_UPDATE, 0, null);
  }

  private guestConnect(h: VsockHeader): void {
    if (!this.uds || this.conns.size >= MAX_CONNECTIONS) return this.rstTo(h);
    const sock = createConnection({ path: `${this.uds}_${h.dstPort}`, allowHalfOpen: true });
    const c: Conn = {
      key: `${h.srcPort}:${h.dstPort}`,
      guestPort: h.srcPort,
      hostPort: h.dstPort,
      sock,
      state: 'connecting',
      peerBufAlloc: h.bufAlloc,
      peerFwdCnt: h.fwdCnt,
      txCnt: 0,
      fwdCnt: 0,
      lastReportedFwd: 0,
      pending: [],
      unflushed: 0,
      endAfterPending: false,
      hostInitiated: false,
      handshake: null,
    };
    this.conns.set(c.key, c);
    sock.on('connect', () => {
      if (c.state !== 'connecting') return;
      c.state = 'open';
      this.send(c, OP_RESPONSE, 0, null);
      this.pumpConn(c);
    });
    sock.on('error', () => {});
    sock.on('drain', () => this.flushed(c));
    sock.on('data', (d: Buffer) => this.fromHost(c, new Uint8Array(d)));
    sock.on('end', () => this.hostEnded(c));
    sock.on('close', () => this.hostClosed(c));
  }

  /** RST for a packet that belongs to no connection. */
  private rstTo(h: VsockHeader): void {
    this.queuePacket(h.dstPort, h.srcPort, OP_RST, 0, null, 0, 0);
  }

  private send(c: Conn, op: number, flags: number, data: Uint8Array | null): void {
    c.lastReportedFwd = c.fwdCnt;
    this.queuePacket(c.hostPort, c.guestPort, op, flags, data, BUF_ALLOC, c.fwdCnt);
  }

  private queuePacket(srcPort: number, dstPort: number, op: number, flags: number, data: Uint8Array | null, bufAlloc: number, fwdCnt: number): void {
    if (data === null && this.out.length >= MAX_PENDING) {
      this.guestError(`${this.name}: guest posts no receive buffers; control packets dropped`);
      return;
    }
    const hdr = new Uint8Array(VSOCK_HDR);
    const dv = new DataView(hdr.buffer);
    dv.setUint32(0, VSOCK_HOST_CID, true);
    dv.setUint32(8, this.guestCid % 0x100000000, true);
    dv.setUint32(12, Math.floor(this.guestCid / 0x100000000), true);
    dv.setUint32(16, srcPort, true);
    dv.setUint32(20, dstPort, true);
    dv.setUint32(24, data ? data.length : 0, true);
    dv.setUint16(28, VSOCK_TYPE_STREAM, true);
    dv.setUint16(30, op, true);
    dv.setUint32(32, flags, true);
    dv.setUint32(36, bufAlloc, true);
    dv.setUint32(40, fwdCnt, true);
    this.out.push({ hdr, data: data ? data.slice() : null });
    this.flushOut();
  }

  /** Move queued packets into the guest's receive buffers; a payload larger than a buffer is split across packets. */
  private flushOut(): void {
    const q = this.queues[0];
    if (!q || !this.mem || !this.driverOk) return;
    while (this.out.length && this.rxBufs.length) {
      const elem = this.rxBufs.shift()!;
      const pkt = this.out[0]!;
      const room = elem.inLen - VSOCK_HDR;
      if (room < 0) {
        this.guestError(`${this.name}: receive buffer smaller than a header`);
        this.complete(q, elem, 0);
        continue;
      }
      let payload = pkt.data;
      if (payload && payload.length > room) {
        // Split: this buffer takes what fits, the rest stays queued with its own header.
        const head = payload.subarray(0, room);
        const rest = payload.subarray(room);
        const hdr2 = pkt.hdr.slice();
        new DataView(hdr2.buffer).setUint32(24, rest.length, true);
        pkt.data = rest;
        const h1 = pkt.hdr.slice();
        new DataView(h1.buffer).setUint32(24, head.length, true);
        pkt.hdr = hdr2;
        this.deliver(q, elem, h1, head);
        continue;
      }
      this.out.shift();
      this.deliver(q, elem, pkt.hdr, payload);
    }
  }

  private deliver(q: Virtqueue, elem: VirtqElement, hdr: Uint8Array, payload: Uint8Array | null): void {
    const buf = new Uint8Array(VSOCK_HDR + (payload?.length ?? 0));
    buf.set(hdr);
    if (payload) buf.set(payload, VSOCK_HDR);
    const ok = scatter(this.mem!, elem.in, buf);
    if (!ok) this.guestError(`${this.name}: receive buffer outside memory`);
    this.complete(q, elem, ok ? buf.length : 0);
  }
}
