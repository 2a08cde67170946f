import type { CharBackend, CharEvent, CharFrontend } from '../char/chardev.js';
import { VirtioDevice, VIRTIO_ID_CONSOLE, type VirtioDeviceDeps } from './virtio-device.js';
import type { VirtqElement, Virtqueue } from './virtqueue.js';
import { gather, scatter } from './virtio-blk.js';

export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;

/** Control events (virtio 1.x, 5.3.6.2). */
export const VIRTIO_CONSOLE_DEVICE_READY = 0;
export const VIRTIO_CONSOLE_DEVICE_ADD = 1;
export const VIRTIO_CONSOLE_DEVICE_REMOVE = 2;
export const VIRTIO_CONSOLE_PORT_READY = 3;
export const VIRTIO_CONSOLE_CONSOLE_PORT = 4;
export const VIRTIO_CONSOLE_RESIZE = 5;
export const VIRTIO_CONSOLE_PORT_OPEN = 6;
export const VIRTIO_CONSOLE_PORT_NAME = 7;

/** QEMU's default max_nr_ports. */
export const DEFAULT_MAX_PORTS = 31;
const STAGING = 4096;
const MAX_TX = 64 * 1024;
/** Control messages waiting for the driver's buffers; a driver that never posts any cannot make us hoard. */
const MAX_PENDING_CONTROL = 1024;

export interface SerialPortOptions {
  /** A console port (virtconsole: Linux's hvc), else a plain port (virtserialport: /dev/vport*). */
  console: boolean;
  /** Announced to the guest (PORT_NAME); Linux shows it in /sys/class/virtio-ports/vportNpM/name. */
  name?: string;
  /** Port number; default: 0 for the first console, else the lowest free number from 1 (QEMU's rule). */
  nr?: number;
}

/** One port: its queues, its backend, the bytes waiting for receive buffers. */
export class SerialPort implements CharFrontend {
  readonly staged = new Uint8Array(STAGING);
  stagedLen = 0;
  /** The driver said the port is ready / a guest process has it open. */
  ready = false;
  guestOpen = false;
  bytesFromGuest = 0;
  bytesToGuest = 0;
  /** Receive buffers popped from the ring and held until input arrives (so an idle port does not keep its queue "busy"). */
  readonly rx: VirtqElement[] = [];

  constructor(
    readonly dev: VirtioSerial,
    readonly id: number,
    readonly backend: CharBackend,
    readonly opts: SerialPortOptions,
  ) {}

  get rxIndex(): number {
    return this.id === 0 ? 0 : 2 * (this.id + 1);
  }
  get txIndex(): number {
    return this.rxIndex + 1;
  }

  /** The host end is connected (a socket client is there); always true for backends that are always open. */
  hostOpen = false;

  canReceive(): number {
    return STAGING - this.stagedLen;
  }

  event(e: CharEvent): void {
    this.hostOpen = e === 'opened';
    this.dev.hostOpenChanged(this);
  }

  receive(bytes: Uint8Array): void {
    const n = Math.min(bytes.length, STAGING - this.stagedLen);
    this.staged.set(bytes.subarray(0, n), this.stagedLen);
    this.stagedLen += n;
    this.dev.fillReceive(this);
  }
}

/**
 * virtio-serial (virtio-console with MULTIPORT): port 0's queues are 0/1,
 * the control queues 2/3, port n's 2n+2/2n+3. The driver learns the ports
 * through control messages (DEVICE_ADD after DEVICE_READY; CONSOLE_PORT,
 * PORT_NAME and PORT_OPEN after each PORT_READY). Input for a port waits in
 * its backend while the guest has no receive buffers for it: nothing the
 * host sends is lost.
 */
export class VirtioSerial extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  private readonly cfg = new Uint8Array(12);
  readonly ports = new Map<number, SerialPort>();
  private readonly pendingControl: Uint8Array[] = [];
  private readonly controlRx: VirtqElement[] = [];
  private driverReady = false;

  constructor(
    deps: VirtioDeviceDeps,
    readonly maxPorts = DEFAULT_MAX_PORTS,
  ) {
    super('virtio-serial', deps, 2 + 2 * maxPorts, 128);
    this.hostFeatures.set(VIRTIO_CONSOLE_F_MULTIPORT);
    new DataView(this.cfg.buffer).setUint32(4, maxPorts, true);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  /** Add a port before the guest runs (hotplug is not offered). */
  addPort(backend: CharBackend, opts: SerialPortOptions): SerialPort {
    let nr = opts.nr;
    if (nr === undefined) {
      nr = opts.console && !this.ports.has(0) ? 0 : 1;
      while (this.ports.has(nr)) nr++;
    }
    if (!Number.isInteger(nr) || nr < 0 || nr >= this.maxPorts) throw new RangeError(`port number ${nr} out of range (max_ports ${this.maxPorts})`);
    if (this.ports.has(nr)) throw new RangeError(`port number ${nr} is in use`);
    if (nr === 0 && !opts.console) throw new RangeError('port 0 is reserved for a console (virtconsole)');
    const p = new SerialPort(this, nr, backend, opts);
    this.ports.set(nr, p);
    backend.attach(p);
    return p;
  }

  protected override resetDevice(): void {
    this.driverReady = false;
    this.pendingControl.length = 0;
    this.controlRx.length = 0;
    for (const p of this.ports.values()) {
      p.stagedLen = 0;
      p.rx.length = 0;
      p.ready = false;
      p.guestOpen = false;
    }
  }

  private portOfQueue(i: number): SerialPort | undefined {
    if (i < 2) return this.ports.get(0);
    return this.ports.get((i >> 1) - 1);
  }

  protected handleQueue(q: Virtqueue): void {
    if (q.index === 2) {
      for (let e = q.pop(); e; e = q.pop()) this.controlRx.push(e);
      return this.flushControl();
    }
    if (q.index === 3) return this.controlFromDriver(q);
    const p = this.portOfQueue(q.index);
    if (!p) {
      // Queues of ports that do not exist: complete buffers empty so the ring does not fill up.
      for (let n = 0; n < this.batchLimit; n++) {
        const elem = q.pop();
        if (!elem) return;
        if (q.index & 1) this.complete(q, elem, 0);
        else {
          // Receive buffers are kept for a port that never comes: give them back unused only on reset.
          this.guestError(`${this.name}: buffers posted to queue ${q.index} of a port that does not exist`);
          this.complete(q, elem, 0);
        }
      }
      return;
    }
    if (q.index & 1) {
      for (let n = 0; n < this.batchLimit; n++) {
        const elem = q.pop();
        if (!elem) return;
        const len = Math.min(elem.outLen, MAX_TX);
        const data = gather(this.mem!, elem.out, 0, len);
        if (data) {
          for (const b of data) p.backend.write(b);
          p.bytesFromGuest += data.length;
        } else this.guestError(`${this.name}: transmit buffer outside memory`);
        this.complete(q, elem, 0);
      }
      return;
    }
    for (let e = q.pop(); e; e = q.pop()) p.rx.push(e);
    this.fillReceive(p);
    p.backend.acceptInput();
  }

  /** Move staged input into the port's receive buffers. */
  fillReceive(p: SerialPort): void {
    const q = this.queues[p.rxIndex];
    if (!q || !q.ready || q.broken || p.stagedLen === 0 || !this.mem) return;
    let off = 0;
    while (off < p.stagedLen) {
      const elem = p.rx.shift();
      if (!elem) break;
      const n = Math.min(elem.inLen, p.stagedLen - off);
      const ok = scatter(this.mem, elem.in, p.staged.subarray(off, off + n));
      if (!ok) this.guestError(`${this.name}: receive buffer outside memory`);
      off += n;
      p.bytesToGuest += ok ? n : 0;
      this.complete(q, elem, ok ? n : 0);
    }
    p.staged.copyWithin(0, off, p.stagedLen);
    p.stagedLen -= off;
  }

  private sendControl(id: number, event: number, value: number, extra?: Uint8Array): void {
    if (this.pendingControl.length >= MAX_PENDING_CONTROL) {
      this.guestError(`${this.name}: driver posts no control buffers; control messages dropped`);
      return;
    }
    const m = new Uint8Array(8 + (extra?.length ?? 0));
    const dv = new DataView(m.buffer);
    dv.setUint32(0, id, true);
    dv.setUint16(4, event, true);
    dv.setUint16(6, value, true);
    if (extra) m.set(extra, 8);
    this.pendingControl.push(m);
    this.flushControl();
  }

  private flushControl(): void {
    const q = this.queues[2];
    if (!q || !q.ready || q.broken || !this.mem) return;
    while (this.pendingControl.length) {
      const elem = this.controlRx.shift();
      if (!elem) return;
      const m = this.pendingControl.shift()!;
      const n = Math.min(m.length, elem.inLen);
      const ok = scatter(this.mem, elem.in, m.subarray(0, n));
      this.complete(q, elem, ok ? n : 0);
    }
  }

  private controlFromDriver(q: Virtqueue): void {
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      const m = elem.outLen >= 8 ? gather(this.mem!, elem.out, 0, 8) : null;
      this.complete(q, elem, 0);
      if (!m) {
        this.guestError(`${this.name}: control message shorter than 8 bytes`);
        continue;
      }
      const dv = new DataView(m.buffer);
      this.control(dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true));
    }
  }

  private control(id: number, event: number, value: number): void {
    if (event === VIRTIO_CONSOLE_DEVICE_READY) {
      if (value !== 1) {
        this.guestError(`${this.name}: driver failed to initialise`);
        return;
      }
      this.driverReady = true;
      for (const p of [...this.ports.values()].sort((a, b) => a.id - b.id)) this.sendControl(p.id, VIRTIO_CONSOLE_DEVICE_ADD, 1);
      return;
    }
    const p = this.ports.get(id);
    if (!p) {
      this.guestError(`${this.name}: control event ${event} for port ${id}, which does not exist`);
      return;
    }
    switch (event) {
      case VIRTIO_CONSOLE_PORT_READY:
        if (value !== 1) {
          this.guestError(`${this.name}: driver failed to add port ${id}`);
          return;
        }
        p.ready = true;
        if (p.opts.console) this.sendControl(id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
        if (p.opts.name) this.sendControl(id, VIRTIO_CONSOLE_PORT_NAME, 1, new TextEncoder().encode(p.opts.name));
        // Consoles are always open (as in QEMU); other ports follow their backend (a socket client there or not).
        if (p.opts.console || p.hostOpen) this.sendControl(id, VIRTIO_CONSOLE_PORT_OPEN, 1);
        return;
      case VIRTIO_CONSOLE_PORT_OPEN:
        p.guestOpen = value === 1;
        if (p.guestOpen) p.backend.acceptInput();
        return;
      default:
        // RESIZE and the like from the driver carry nothing the host acts on.
        return;
    }
  }

  hostOpenChanged(p: SerialPort): void {
    if (p.ready && !p.opts.console) this.sendControl(p.id, VIRTIO_CONSOLE_PORT_OPEN, p.hostOpen ? 1 : 0);
  }

  /** Whether the driver has completed DEVICE_READY (tests). */
  get isDriverReady(): boolean {
    return this.driverReady;
  }
}
