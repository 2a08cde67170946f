// virtio-net over virtio-mmio, driven through its rings the way Linux and
// U-Boot drive it, with a real stream backend: the test is the peer at the
// other end of a UNIX socket speaking QEMU's length-prefixed frame protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Socket } from 'node:net';
import { FrameDecoder, frameHeader } from '../../../src/net/frame-stream.js';
import { StreamServerLink } from '../../../src/net/stream.js';
import { VirtioNet, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS } from '../../../src/hw/virtio/virtio-net.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED as at } from '../../../src/memory/types.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { createGpexHost, VIRT_GPEX_LAYOUT } from '../../../src/hw/pci/gpex.js';
import { VirtioPci } from '../../../src/hw/virtio/virtio-pci.js';
import { DriverQueue, MMIO_BASE, RAM_BASE, deps, initDevice, makeRig, mmioRead, mmioWrite, notify, settle, type Rig } from './driver.js';

const RX_RING = RAM_BASE + 0x10000;
const TX_RING = RAM_BASE + 0x40000;
const BUF = RAM_BASE + 0x100000;
const FEATURES = (1 << VIRTIO_NET_F_MAC) | (1 << VIRTIO_NET_F_STATUS);

interface Peer {
  sock: Socket;
  frames: Uint8Array[];
  send(frame: Uint8Array): void;
}

async function connectPeer(path: string): Promise<Peer> {
  const sock = createConnection({ path });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const frames: Uint8Array[] = [];
  const dec = new FrameDecoder();
  sock.on('data', (d: Buffer) => dec.push(d, (f) => frames.push(new Uint8Array(f))));
  return {
    sock,
    frames,
    send: (f) => {
      sock.write(frameHeader(f.length));
      sock.write(f);
    },
  };
}

/** A frame of `len` bytes: broadcast destination, our source, EtherType 0x88b5 (local experimental), a pattern. */
function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x88, 0xb5]);
  return f;
}

async function setup(opts: { legacy?: boolean; features?: number; num?: number } = {}) {
  const rig = makeRig(1, opts.legacy ?? false);
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-net-'));
  const path = join(dir, 'link.sock');
  const link = new StreamServerLink('n0', 'stream', { kind: 'unix', path }, () => {});
  await link.ready;
  const net = new VirtioNet(deps(rig), link, { mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56) });
  rig.transports[0]!.plug(net);
  const peer = await connectPeer(path);
  await settle(rig, () => net.linkUp);
  const num = opts.num ?? 16;
  const rx = initDevice(rig, 0, RX_RING, num, opts.features ?? FEATURES);
  const tx = addQueue(rig, 1, TX_RING, num);
  return { rig, link, net, peer, rx, tx, close: () => (peer.sock.destroy(), link.close()) };
}

/** Set up queue `index` after the device is running (as the console test does). */
function addQueue(rig: Rig, index: number, base: number, num: number): DriverQueue {
  const t = rig.transports[0]!;
  mmioWrite(rig.as, MMIO_BASE, 0x30, index);
  mmioWrite(rig.as, MMIO_BASE, 0x38, num);
  if (t.legacy) {
    const avail = base + 16 * num;
    const used = Math.ceil((avail + 6 + 2 * num) / 4096) * 4096;
    mmioWrite(rig.as, MMIO_BASE, 0x3c, 4096);
    mmioWrite(rig.as, MMIO_BASE, 0x40, base / 4096);
    return new DriverQueue(rig.as, num, base, avail, used);
  }
  const q = new DriverQueue(rig.as, num, base, base + 16 * num, base + Math.ceil((16 * num + 6 + 2 * num) / 4096) * 4096);
  mmioWrite(rig.as, MMIO_BASE, 0x80, q.desc);
  mmioWrite(rig.as, MMIO_BASE, 0x90, q.avail);
  mmioWrite(rig.as, MMIO_BASE, 0xa0, q.used);
  mmioWrite(rig.as, MMIO_BASE, 0x44, 1);
  return q;
}

function read(rig: Rig, addr: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  rig.as.read(addr, b);
  return b;
}

test('virtio-net: identity, MAC and link status in config space, features offered', async () => {
  const s = await setup();
  try {
    assert.equal(mmioRead(s.rig.as, MMIO_BASE, 0x08), 1, 'device id 1 (network)');
    mmioWrite(s.rig.as, MMIO_BASE, 0x14, 0);
    const f = mmioRead(s.rig.as, MMIO_BASE, 0x10);
    for (const bit of [VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF]) assert.ok(f & (1 << bit), `feature ${bit}`);
    assert.ok(f & 1, 'CSUM: the device completes partial checksums');
    assert.equal(f & 2, 0, 'no GUEST_CSUM');
    const cfg = [0, 1, 2, 3, 4, 5, 6].map((i) => s.rig.as.ldub(MMIO_BASE + 0x100 + i));
    assert.deepEqual(cfg.slice(0, 6), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert.equal(cfg[6], 1, 'VIRTIO_NET_S_LINK_UP');
  } finally {
    s.close();
  }
});

test('virtio-net: a frame the guest transmits reaches the peer intact (header and frame split across descriptors)', async () => {
  const s = await setup();
  try {
    const f = frame(1000, 3);
    s.rig.as.write(BUF, new Uint8Array(12));
    s.rig.as.write(BUF + 0x1000, f.subarray(0, 100));
    s.rig.as.write(BUF + 0x2000, f.subarray(100));
    s.tx.add([{ addr: BUF, len: 12 }, { addr: BUF + 0x1000, len: 100 }, { addr: BUF + 0x2000, len: 900 }]);
    notify(s.rig, 0, 1);
    await settle(s.rig, () => s.peer.frames.length === 1 && s.tx.usedIdx() === 1);
    assert.deepEqual(s.peer.frames[0], f);
    assert.equal(s.net.stats.txFrames, 1);
  } finally {
    s.close();
  }
});

test('virtio-net: received frames land in the guest buffers with a header; with MRG_RXBUF one frame spans several buffers', async () => {
  const s = await setup({ features: FEATURES | (1 << VIRTIO_NET_F_MRG_RXBUF) });
  try {
    for (let i = 0; i < 8; i++) s.rx.add([{ addr: BUF + i * 0x1000, len: 512, write: true }]);
    notify(s.rig, 0, 0);
    const small = frame(60, 1);
    const big = frame(1400, 2); // 12 + 1400 bytes: three 512-byte buffers
    s.peer.send(small);
    s.peer.send(big);
    await settle(s.rig, () => s.rx.usedIdx() === 4);
    const used = s.rx.takeUsed();
    assert.deepEqual(used.map(([, len]) => len), [72, 512, 512, 1412 - 1024]);
    const h0 = read(s.rig, BUF, 12);
    assert.equal(h0[10], 1, 'num_buffers of the small frame');
    assert.deepEqual(read(s.rig, BUF + 12, 60), small);
    const h1 = read(s.rig, BUF + 0x1000, 12);
    assert.equal(h1[10], 3, 'num_buffers of the big frame');
    const got = new Uint8Array(1400);
    got.set(read(s.rig, BUF + 0x1000 + 12, 500), 0);
    got.set(read(s.rig, BUF + 0x2000, 512), 500);
    got.set(read(s.rig, BUF + 0x3000, 388), 1012);
    assert.deepEqual(got, big);
    assert.ok(s.rig.irqs[0]!.raised > 0, 'used-buffer interrupt');
  } finally {
    s.close();
  }
});

test('virtio-net (legacy mmio, no MRG_RXBUF): 10-byte header; a frame larger than the buffers is dropped and counted, the buffer kept', async () => {
  const s = await setup({ legacy: true });
  try {
    s.rx.add([{ addr: BUF, len: 10 + 1514, write: true }]);
    notify(s.rig, 0, 0);
    s.peer.send(frame(3000, 5)); // never fits a 1524-byte buffer
    const ok = frame(1514, 6);
    s.peer.send(ok);
    await settle(s.rig, () => s.rx.usedIdx() === 1);
    assert.deepEqual(s.rx.takeUsed().map(([, l]) => l), [1524]);
    assert.deepEqual(read(s.rig, BUF + 10, 1514), ok);
    assert.equal(s.net.stats.rxDropTooBig, 1);
  } finally {
    s.close();
  }
});

test('virtio-net: frames arriving while the guest has no buffers are held (bounded), then delivered; beyond the bound dropped and counted', async () => {
  const s = await setup({ num: 64 });
  try {
    // 300 frames, no receive buffers posted: the device holds at most 256 of them.
    for (let i = 0; i < 300; i++) s.peer.send(frame(100, i));
    await settle(s.rig, () => s.net.stats.rxDropNoBuffer + 256 >= 300 && s.link.stats.frames === 300);
    assert.equal(s.net.stats.rxDropNoBuffer, 44);
    // Now the guest posts 64 buffers: the first 64 held frames arrive, in order.
    for (let i = 0; i < 64; i++) s.rx.add([{ addr: BUF + i * 0x800, len: 2048, write: true }]);
    notify(s.rig, 0, 0);
    await settle(s.rig, () => s.rx.usedIdx() === 64);
    for (const i of [0, 63]) assert.deepEqual(read(s.rig, BUF + i * 0x800 + 12, 100), frame(100, i));
    assert.equal(s.net.stats.rxFrames, 64);
  } finally {
    s.close();
  }
});

test('virtio-net: hostile transmit chains (no room for the header, runt, oversized) are dropped and counted; the ring goes on', async () => {
  const s = await setup();
  try {
    s.tx.add([{ addr: BUF, len: 8 }]); // shorter than the 12-byte header
    s.tx.add([{ addr: BUF, len: 12 + 5 }]); // a 5-byte "frame"
    s.tx.add([{ addr: BUF, len: 12 }, { addr: BUF + 0x1000, len: 70000 }]); // larger than any Ethernet frame
    const f = frame(64, 9);
    s.rig.as.write(BUF + 0x30000, f);
    s.tx.add([{ addr: BUF + 0x20000, len: 12 }, { addr: BUF + 0x30000, len: 64 }]);
    notify(s.rig, 0, 1);
    await settle(s.rig, () => s.tx.usedIdx() === 4 && s.peer.frames.length === 1);
    assert.equal(s.net.stats.txDropBad, 3);
    assert.deepEqual(s.peer.frames[0], f);
    assert.equal(s.net.status & 64, 0, 'no DEVICE_NEEDS_RESET');
  } finally {
    s.close();
  }
});

test('virtio-net: transmit work per notification is bounded (batchLimit chains per bottom-half run)', async () => {
  const s = await setup({ num: 256 });
  try {
    const f = frame(60, 0);
    s.rig.as.write(BUF + 12, f);
    for (let i = 0; i < 200; i++) s.tx.add([{ addr: BUF, len: 72 }]);
    notify(s.rig, 0, 1);
    s.rig.loop.runBottomHalves();
    assert.equal(s.tx.usedIdx(), s.net.batchLimit, 'one run takes batchLimit chains');
    await settle(s.rig, () => s.tx.usedIdx() === 200 && s.peer.frames.length === 200);
  } finally {
    s.close();
  }
});

test('virtio-net: oversized and truncated frames from the backend are skipped and counted; the stream stays in sync', async () => {
  const s = await setup();
  try {
    for (let i = 0; i < 4; i++) s.rx.add([{ addr: BUF + i * 0x1000, len: 2048, write: true }]);
    notify(s.rig, 0, 0);
    // A length of 100000 (more than any frame) with its bytes, a 4-byte runt, then a good frame.
    s.peer.sock.write(frameHeader(100000));
    s.peer.sock.write(new Uint8Array(100000));
    s.peer.sock.write(frameHeader(4));
    s.peer.sock.write(new Uint8Array(4));
    const good = frame(200, 4);
    s.peer.send(good);
    await settle(s.rig, () => s.rx.usedIdx() === 1);
    assert.deepEqual(read(s.rig, BUF + 12, 200), good);
    assert.equal(s.link.stats.oversized, 1);
    assert.equal(s.link.stats.runts, 1);
    // The peer dies in the middle of a frame: counted as truncated, the link goes down, the guest is told.
    s.peer.sock.end(Buffer.concat([Buffer.from(frameHeader(500)), Buffer.alloc(100)]));
    await settle(s.rig, () => !s.net.linkUp);
    assert.equal(s.link.stats.truncated, 1);
    assert.equal(s.rig.as.ldub(MMIO_BASE + 0x106), 0, 'status: link down');
    assert.ok(mmioRead(s.rig.as, MMIO_BASE, 0x60) & 2, 'config-change interrupt');
    // Transmit while down: completed, dropped, counted.
    s.rig.as.write(BUF + 0x8000 + 12, frame(60, 1));
    s.tx.add([{ addr: BUF + 0x8000, len: 72 }]);
    notify(s.rig, 0, 1);
    await settle(s.rig, () => s.tx.usedIdx() === 1);
    assert.equal(s.net.stats.txDropDown, 1);
  } finally {
    s.close();
  }
});

/** One's-complement sum of 16-bit big-endian words (the receiver's check). */
function onesSum(parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += (p[i]! << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

test('virtio-net: CSUM — a frame marked NEEDS_CSUM leaves with its checksum completed; a checksum offset past the frame is dropped', async () => {
  const s = await setup({ features: FEATURES | (1 << VIRTIO_NET_F_CSUM) });
  try {
    // Ethernet + IPv4 + UDP with an odd-length payload.
    const payload = Uint8Array.from({ length: 101 }, (_, i) => (i * 13 + 5) & 0xff);
    const udpLen = 8 + payload.length;
    const f = new Uint8Array(14 + 20 + udpLen);
    f.set([0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00]);
    const src = [10, 0, 2, 15];
    const dst = [10, 0, 2, 2];
    f.set([0x45, 0, 0, 20 + udpLen, 0, 0, 0, 0, 64, 17, 0, 0, ...src, ...dst], 14);
    f.set([0x30, 0x39, 0x00, 0x35, udpLen >> 8, udpLen & 0xff, 0, 0], 34);
    f.set(payload, 42);
    // What Linux leaves in the field with CHECKSUM_PARTIAL: the folded pseudo-header sum, not inverted.
    const pseudo = Uint8Array.from([...src, ...dst, 0, 17, udpLen >> 8, udpLen & 0xff]);
    const ph = onesSum([pseudo]);
    f[40] = ph >> 8;
    f[41] = ph & 0xff;
    const hdr = new Uint8Array(12);
    hdr[0] = 1; // NEEDS_CSUM
    hdr[6] = 34; // csum_start: the UDP header
    hdr[8] = 6; // csum_offset: UDP's checksum field
    s.rig.as.write(BUF, hdr);
    s.rig.as.write(BUF + 12, f);
    s.tx.add([{ addr: BUF, len: 12 + f.length }]);
    // A header whose checksum field lies past the frame.
    const bad = hdr.slice();
    bad[6] = 0xf0;
    s.rig.as.write(BUF + 0x1000, bad);
    s.rig.as.write(BUF + 0x1000 + 12, f);
    s.tx.add([{ addr: BUF + 0x1000, len: 12 + f.length }]);
    notify(s.rig, 0, 1);
    await settle(s.rig, () => s.tx.usedIdx() === 2 && s.peer.frames.length === 1);
    const got = s.peer.frames[0]!;
    assert.notDeepEqual(got.subarray(40, 42), Uint8Array.of(ph >> 8, ph & 0xff), 'checksum filled in');
    assert.equal(onesSum([pseudo, got.subarray(34)]), 0xffff, 'the receiver\'s check passes');
    assert.deepEqual(got.subarray(0, 40), f.subarray(0, 40));
    assert.deepEqual(got.subarray(42), f.subarray(42));
    assert.equal(s.net.stats.txDropBad, 1);
  } finally {
    s.close();
  }
});

test('virtio-net-pci identity as QEMU 7.2 lays it out: transitional 1af4:1000 / modern 1af4:1041, Ethernet class, 4 MSI-X vectors', () => {
  for (const transitional of [true, false]) {
    const sys = MemoryRegion.container('system', 2 ** 40);
    sys.addSubregion(RAM_BASE, MemoryRegion.ram('ram', 16 << 20));
    const as = new AddressSpace(sys, 'memory');
    const host = createGpexHost({ dmaRoot: sys, sysmem: sys, irqs: [0, 1, 2, 3].map(() => ({ set() {} })), msiSink: { deliver() {} } });
    const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
    const dev = new VirtioNet({ scheduler: loop, log: () => {} }, null, { mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56) });
    const devfn = host.addDevice(new VirtioPci(dev, { transitional, msixVectors: 4 }));
    const rd = (off: number, size = 4): number => (as.load(VIRT_GPEX_LAYOUT.ecam.base + (devfn << 12) + off, size, at), as.valLo >>> 0);
    assert.equal(rd(0), transitional ? 0x10001af4 : 0x10411af4);
    assert.equal(rd(0x2c), transitional ? 0x00011af4 : 0x11001af4, 'subsystem');
    assert.equal(rd(0x08) >>> 8, 0x020000, 'class: Ethernet controller');
    let msixCtl = -1;
    for (let p = rd(0x34, 1); p; p = rd(p + 1, 1)) if (rd(p, 1) === 0x11) msixCtl = rd(p + 2, 2);
    assert.equal(msixCtl & 0x7ff, 3, 'MSI-X table size 4');
  }
});
