/**
 * Network backends (QEMU's -netdev): where a NIC's frames go and where its
 * input comes from. A frontend (virtio-net) attaches to one backend.
 *
 * Transmit is flow-controlled, not lossy: the frontend asks `canSend()` before
 * taking a frame off its ring; a backend whose socket has more than
 * SEND_HIGH_WATER bytes unsent says no and calls `writable()` once the socket
 * drains, so a guest that transmits faster than the peer reads is slowed
 * down (its ring fills) rather than having its frames dropped.
 *
 * Receive is pushed: the backend hands every frame to `receive()`; the
 * frontend bounds what it holds and pauses the backend (`setReceiving(false)`)
 * while the guest has no buffers, which stops reading the socket and lets the
 * kernel's socket buffer push back on the peer.
 */
import type { Socket } from 'node:net';
import { FrameDecoder, frameHeader, type FrameDecoderStats } from './frame-stream.js';

export interface NetClient {
  /** One frame from the link; a view that is valid only during the call. */
  receive(frame: Uint8Array): void;
  /** The link went up or down (a peer connected or went away). */
  linkChanged(up: boolean): void;
  /** The backend takes frames again after canSend() said no. */
  writable(): void;
}

export interface NetBackendStats extends FrameDecoderStats {
  txFrames: number;
  txBytes: number;
  rxBytes: number;
}

export interface NetBackend {
  readonly id: string;
  /** QEMU's netdev type: user, stream or socket. */
  readonly type: string;
  /** True while frames can flow (a peer is connected). */
  readonly up: boolean;
  readonly stats: NetBackendStats;
  attach(client: NetClient | null): void;
  /** Whether send() would go out now; when not, `writable()` follows. */
  canSend(): boolean;
  /** Send one frame; the backend may keep a reference to `frame`, so the caller gives it up. Returns false when the link is down. */
  send(frame: Uint8Array): boolean;
  /** Receive flow control: false stops reading from the outside until true. */
  setReceiving(on: boolean): void;
  /** Release host resources (sockets, the passt process). Idempotent. */
  close(): void;
}

export class NetdevSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetdevSpecError';
  }
}

/** Unsent bytes a link holds before canSend() says no. */
export const SEND_HIGH_WATER = 256 * 1024;

/**
 * A link over one connected stream socket at a time (TCP, UNIX, or a pipe to
 * passt) speaking QEMU's length-prefixed frame protocol. Subclasses decide
 * where the socket comes from (listen, connect, spawn).
 */
export abstract class StreamLink implements NetBackend {
  abstract readonly type: string;
  protected sock: Socket | null = null;
  private client: NetClient | null = null;
  private readonly decoder = new FrameDecoder();
  private receiving = true;
  private wantWritable = false;
  protected closed = false;
  readonly stats: NetBackendStats;

  constructor(
    readonly id: string,
    protected readonly log: (message: string) => void,
  ) {
    const d = this.decoder.stats;
    // One object: the decoder's counters read through, the link adds its own.
    this.stats = Object.defineProperties({ txFrames: 0, txBytes: 0, rxBytes: 0 } as NetBackendStats, {
      frames: { get: () => d.frames, enumerable: true },
      oversized: { get: () => d.oversized, enumerable: true },
      runts: { get: () => d.runts, enumerable: true },
      truncated: { get: () => d.truncated, enumerable: true },
    });
  }

  get up(): boolean {
    return this.sock !== null;
  }

  attach(client: NetClient | null): void {
    this.client = client;
  }

  /** Take `sock` as the link; it goes up now and down when the socket closes. */
  protected adopt(sock: Socket): void {
    this.sock = sock;
    if ('setNoDelay' in sock && typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.stats.rxBytes += d.length;
      this.decoder.push(d, (f) => this.client?.receive(f));
    });
    sock.on('drain', () => {
      if (this.wantWritable && this.sock === sock) {
        this.wantWritable = false;
        this.client?.writable();
      }
    });
    sock.on('error', (e) => {
      if (!this.closed) this.log(`tsvmm: netdev ${this.id}: ${e.message}`);
    });
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = null;
      this.decoder.end();
      this.onDisconnect();
      this.client?.linkChanged(false);
    });
    if (!this.receiving) sock.pause();
    this.client?.linkChanged(true);
  }

  /** The peer went away (the socket closed). */
  protected onDisconnect(): void {}

  canSend(): boolean {
    const s = this.sock;
    if (!s) return true; // send() will drop: a down link never holds the guest up
    if (s.writableLength < SEND_HIGH_WATER) return true;
    this.wantWritable = true;
    return false;
  }

  send(frame: Uint8Array): boolean {
    const s = this.sock;
    if (!s) return false;
    s.cork();
    s.write(frameHeader(frame.length));
    s.write(frame);
    s.uncork();
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  setReceiving(on: boolean): void {
    if (on === this.receiving) return;
    this.receiving = on;
    if (on) this.sock?.resume();
    else this.sock?.pause();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.sock;
    this.sock = null;
    s?.destroy();
  }
}
