/**
 * virtio-mmio and virtio-pci: register sequences a hostile driver might
 * write (any offset, width and value, features, queue setup in any order,
 * notifies of queues that do not exist, resets at any point; on PCI also
 * config-space writes that move BARs and toggle Bus Master Enable) with
 * virtio-blk requests, well-formed and not, posted in the rings between them.
 *
 * Invariants: nothing throws; guest memory is written only where the guest
 * put rings and buffers; the guest-error log's state stays bounded; a reset
 * (or BME-off) leaves no request in flight, and after the final reset
 * nothing reaches guest memory however late the host I/O completes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { RawFile } from '../../../src/block/raw-file.js';
import { VirtioBlk } from '../../../src/hw/virtio/virtio-blk.js';
import { VirtioMmio } from '../../../src/hw/virtio/virtio-mmio.js';
import { VirtioPci } from '../../../src/hw/virtio/virtio-pci.js';
import { GUEST_ERRORS_KEPT } from '../../../src/hw/virtio/virtio-device.js';
import { createGpexHost, VIRT_GPEX_LAYOUT } from '../../../src/hw/pci/gpex.js';
import { MEMTXATTRS_UNSPECIFIED as A } from '../../../src/memory/types.js';
import { RamWatch, hex, target } from '../target.js';

const RAM = 0x80000000;
const RAM_SIZE = 0x10000;
/** Rings live in [RAM, RAM + 0x4000), buffers in [RAM + 0x4000, RAM + 0x8000); the rest is never pointed at. */
const GUEST_AREA_END = RAM + 0x8000;
const BUF = RAM + 0x4000;
const MMIO_BASE = 0x10001000;
const BAR = 0x40000000;

let image: RawFile | null = null;
function disk(): RawFile {
  if (!image) {
    const p = join(mkdtempSync(join(tmpdir(), 'tsvmm-fuzz-')), 'disk.raw');
    writeFileSync(p, new Uint8Array(256 * 1024).fill(0x5a));
    image = new RawFile(p);
  }
  return image;
}

/** Never a value inside RAM beyond the guest's area: the device may only write where the guest pointed it. */
function sanitize(v: number): number {
  return v >= GUEST_AREA_END && v < RAM + RAM_SIZE ? v - 0x8000 : v >>> 0;
}

const valueArb = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 0xb, 0xf, 0x40, 0x80, 0xff, 16, 256, 4096, 0xffff, 0xffffffff),
  fc.constantFrom(RAM, RAM + 0x80, RAM + 0x1000, RAM >>> 12, BUF, 0x1000, 0x10000000),
  fc.nat({ max: 0xffffffff }).map(sanitize),
);

type Op =
  | { kind: 'w'; off: number; size: 1 | 2 | 4; value: number }
  | { kind: 'r'; off: number; size: 1 | 2 | 4 }
  | { kind: 'cfg'; off: number; size: 1 | 2 | 4; value: number }
  | { kind: 'mem'; off: number; value: number }
  | { kind: 'req'; type: number; sector: number; len: number; dataWritable: boolean; slot: number; kick: number }
  | { kind: 'init'; features: number }
  | { kind: 'turn' }
  | { kind: 'io' }
  | { kind: 'reset' };

/** A driver's bring-up (what the interesting register values describe), then the sequence mutates it. */
const initArb = fc.record({ kind: fc.constant('init' as const), features: fc.constantFrom(0, 1 << 28, 1 << 29, 3 << 28, 0xffffffff) });

const sizeArb = fc.constantFrom<1 | 2 | 4>(4, 4, 4, 2, 1);
const opArb = (regs: readonly number[], window: number, cfg: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('w' as const), off: fc.oneof(fc.constantFrom(...regs), fc.nat({ max: window - 1 })), size: sizeArb, value: valueArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('r' as const), off: fc.oneof(fc.constantFrom(...regs), fc.nat({ max: window - 1 })), size: sizeArb }) },
    {
      weight: cfg ? 2 : 0,
      arbitrary: fc.record({
        kind: fc.constant('cfg' as const),
        off: fc.oneof(fc.constantFrom(4, 4, 4, 0x20, 0x24, 0x10, 0x3c), fc.nat({ max: 0xff })),
        size: sizeArb,
        value: fc.oneof(fc.constantFrom(0, 2, 4, 6, 7), valueArb),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('mem' as const), off: fc.oneof(fc.nat({ max: 0x1ffc }), fc.nat({ max: 0x3ffc }).map((o) => o + 0x4000)), value: valueArb }) },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('req' as const),
        type: fc.constantFrom(0, 0, 1, 4, 8, 11, 13, 99),
        sector: fc.oneof(fc.nat({ max: 600 }), fc.constantFrom(0xffffffff, 2 ** 40)),
        len: fc.constantFrom(0, 1, 512, 1024, 4096, 0x3000),
        dataWritable: fc.boolean(),
        slot: fc.nat({ max: 3 }),
        kick: fc.nat({ max: 2 }),
      }),
    },
    { weight: 1, arbitrary: initArb },
    { weight: 3, arbitrary: fc.constant({ kind: 'turn' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'io' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  );

interface Rig {
  init(features: number): void;
  notify(): void;
  as: AddressSpace;
  ram: Uint8Array;
  loop: EventLoop;
  blk: VirtioBlk;
  write(off: number, size: number, value: number): void;
  read(off: number, size: number): number;
  cfg(off: number, size: number, value: number): void;
  reset(): void;
  status(): number;
  intr(): number;
  busMaster(): boolean;
  destroy(): void;
}

function base(): { sys: MemoryRegion; as: AddressSpace; ram: Uint8Array; loop: EventLoop; blk: VirtioBlk } {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const as = new AddressSpace(sys, 'memory');
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const blk = new VirtioBlk({ scheduler: loop, log: () => {} }, disk());
  return { sys, as, ram: ramMr.ramBytes(), loop, blk };
}

function mmioRig(legacy: boolean): Rig {
  const b = base();
  let level = false;
  const t = new VirtioMmio({ set: (l: boolean) => void (level = l) }, b.as, legacy);
  t.plug(b.blk);
  b.sys.addSubregion(MMIO_BASE, t.mr);
  const w = (off: number, v: number): void => void b.as.store(MMIO_BASE + off, 4, v, 0, A);
  return {
    ...b,
    init: (features) => {
      w(0x70, 0);
      clearRings(b.ram);
      w(0x70, 1);
      w(0x70, 3);
      if (!legacy) {
        w(0x24, 1);
        w(0x20, 1);
      }
      w(0x24, 0);
      w(0x20, features);
      if (!legacy) w(0x70, 0xb);
      w(0x30, 0);
      w(0x38, 8);
      if (legacy) {
        w(0x28, 4096);
        w(0x3c, 4096);
        w(0x40, RAM >>> 12);
      } else {
        w(0x80, RAM);
        w(0x84, 0);
        w(0x90, RAM + 0x80);
        w(0x94, 0);
        w(0xa0, RAM + 0x1000);
        w(0xa4, 0);
        w(0x44, 1);
      }
      w(0x70, legacy ? 7 : 0xf);
    },
    notify: () => w(0x50, 0),
    write: (off, size, v) => void b.as.store(MMIO_BASE + off, size, v, 0, A),
    read: (off, size) => (b.as.load(MMIO_BASE + off, size, A), b.as.valLo),
    cfg: () => {},
    reset: () => void b.as.store(MMIO_BASE + 0x70, 4, 0, 0, A),
    status: () => (b.as.load(MMIO_BASE + 0x70, 4, A), b.as.valLo),
    intr: () => (b.as.load(MMIO_BASE + 0x60, 4, A), b.as.valLo | (level ? 0x100 : 0)),
    busMaster: () => true,
    destroy: () => b.as.destroy(),
  };
}

function pciRig(): Rig {
  const b = base();
  const levels = [false, false, false, false];
  const host = createGpexHost({ dmaRoot: b.sys, sysmem: b.sys, irqs: levels.map((_, i) => ({ set: (l: boolean) => void (levels[i] = l) })), msiSink: { deliver: () => {} } });
  const fn = new VirtioPci(b.blk, { transitional: false });
  const devfn = host.addDevice(fn);
  const cfgAddr = VIRT_GPEX_LAYOUT.ecam.base + (devfn << 12);
  b.as.stl(cfgAddr + 0x20, BAR);
  b.as.stl(cfgAddr + 0x24, 0);
  b.as.stw(cfgAddr + 4, 6);
  const w = (off: number, size: number, v: number): void => void b.as.store(BAR + off, size, v, 0, A);
  return {
    ...b,
    init: (features) => {
      b.as.store(cfgAddr + 0x20, 4, BAR, 0, A);
      b.as.store(cfgAddr + 0x24, 4, 0, 0, A);
      b.as.store(cfgAddr + 4, 2, 6, 0, A);
      w(0x14, 1, 0);
      clearRings(b.ram);
      w(0x14, 1, 1);
      w(0x14, 1, 3);
      w(0x08, 4, 1);
      w(0x0c, 4, 1);
      w(0x08, 4, 0);
      w(0x0c, 4, features);
      w(0x14, 1, 0xb);
      w(0x16, 2, 0);
      w(0x18, 2, 8);
      w(0x20, 4, RAM);
      w(0x24, 4, 0);
      w(0x28, 4, RAM + 0x80);
      w(0x2c, 4, 0);
      w(0x30, 4, RAM + 0x1000);
      w(0x34, 4, 0);
      w(0x1c, 2, 1);
      w(0x14, 1, 0xf);
    },
    notify: () => w(0x3000, 2, 0),
    write: (off, size, v) => void b.as.store(BAR + off, size, v, 0, A),
    read: (off, size) => (b.as.load(BAR + off, size, A), b.as.valLo),
    cfg: (off, size, v) => void b.as.store(cfgAddr + off, size, v, 0, A),
    // The reset goes to the device directly: the fuzzed BAR may have moved or been switched off.
    reset: () => {
      b.as.store(cfgAddr + 0x20, 4, BAR, 0, A);
      b.as.store(cfgAddr + 0x24, 4, 0, 0, A);
      b.as.store(cfgAddr + 4, 2, 2, 0, A);
      b.as.store(BAR + 0x14, 1, 0, 0, A);
    },
    status: () => b.blk.status,
    intr: () => (b.as.load(BAR + 0x1000, 1, A), b.as.valLo),
    busMaster: () => fn.busMasterEnabled,
    destroy: () => b.as.destroy(),
  };
}

function clearRings(ram: Uint8Array): void {
  ram.fill(0, 0, 0x2000);
}

/** A blk request in the layout the interesting register values describe: 8-entry queue at RAM, avail at +0x80, used at +0x1000. */
function postRequest(r: Rig, op: Extract<Op, { kind: 'req' }>): void {
  const dv = new DataView(r.ram.buffer, r.ram.byteOffset, r.ram.byteLength);
  const hdr = BUF + op.slot * 0x1000;
  const data = hdr + 0x100;
  const st = hdr + 0xf00;
  dv.setUint32(hdr - RAM, op.type, true);
  dv.setUint32(hdr - RAM + 8, op.sector % 2 ** 32, true);
  dv.setUint32(hdr - RAM + 12, Math.floor(op.sector / 2 ** 32), true);
  const d0 = (op.slot * 3) % 8;
  const desc = (i: number, addr: number, len: number, flags: number, next: number): void => {
    const o = 16 * ((d0 + i) % 8);
    dv.setUint32(o, addr, true);
    dv.setUint32(o + 4, 0, true);
    dv.setUint32(o + 8, len, true);
    dv.setUint16(o + 12, flags, true);
    dv.setUint16(o + 14, (d0 + next) % 8, true);
  };
  const len = Math.min(op.len, 0xe00);
  desc(0, hdr, 16, 1, 1);
  desc(1, data, len, 1 | (op.dataWritable ? 2 : 0), 2);
  desc(2, st, 1, 2, 0);
  const idx = dv.getUint16(0x82, true);
  dv.setUint16(0x84 + 2 * (idx % 8), d0, true);
  dv.setUint16(0x82, (idx + 1) & 0xffff, true);
}

async function hostIo(r: Rig): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((res) => setTimeout(res, 1));
    r.loop.runBottomHalves();
  }
}

async function run(make: () => Rig, ops: Op[]): Promise<void> {
  const r = make();
  const watch = new RamWatch(r.ram, RAM);
  const guestArea: [number, number][] = [[RAM, GUEST_AREA_END]];
  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'w':
          r.write(op.off, op.size, op.value);
          break;
        case 'r':
          r.read(op.off, op.size);
          break;
        case 'cfg': {
          const wasMaster = r.busMaster();
          r.cfg(op.off, op.size, op.value);
          if (wasMaster && !r.busMaster()) assert.equal(r.blk.requestsInFlight, 0, 'bus-master-off leaves no request in flight');
          break;
        }
        case 'mem':
          new DataView(r.ram.buffer, r.ram.byteOffset).setUint32(op.off, op.value, true);
          break;
        case 'req':
          postRequest(r, op);
          if (op.kick > 0) r.notify();
          if (op.kick > 1) r.loop.runBottomHalves();
          break;
        case 'init':
          r.init(op.features);
          break;
        case 'turn':
          r.loop.runBottomHalves();
          break;
        case 'io':
          await hostIo(r);
          break;
        case 'reset':
          r.reset();
          assert.equal(r.status(), 0, 'status reads 0 after a reset');
          assert.equal(r.blk.requestsInFlight, 0, 'a reset leaves no request in flight');
          assert.equal(r.intr(), 0, 'a reset leaves no interrupt pending');
          break;
      }
      const s = r.blk.guestLogStats;
      assert.ok(s.remembered <= 64 && r.blk.guestErrors.length <= GUEST_ERRORS_KEPT, 'guest-error log state is bounded');
      const bad = watch.changedOutside(guestArea);
      assert.deepEqual(bad, [], `guest memory written where the guest never pointed: ${hex(bad)}`);
    }
    r.reset();
    assert.equal(r.blk.requestsInFlight, 0);
    watch.snapshot();
    r.loop.runBottomHalves();
    for (let i = 0; i < 200 && r.blk.inflight > 0; i++) await new Promise((res) => setTimeout(res, 1));
    r.loop.runBottomHalves();
    const late = watch.changedOutside([]);
    assert.deepEqual(late, [], `guest memory written after the reset completed: ${hex(late)}`);
    assert.equal(r.intr(), 0, 'no interrupt after the reset');
  } finally {
    r.destroy();
  }
}

const MMIO_REGS = [0x14, 0x20, 0x24, 0x28, 0x30, 0x38, 0x3c, 0x40, 0x44, 0x50, 0x50, 0x64, 0x70, 0x70, 0x80, 0x84, 0x90, 0x94, 0xa0, 0xa4, 0x100, 0x114];
const PCI_REGS = [0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x14, 0x16, 0x18, 0x1a, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34, 0x1000, 0x2000, 0x3000, 0x3000, 0x3004];

/** Mostly a bring-up first, so requests get served; then anything. */
const opsArb = (regs: readonly number[], window: number, cfg: boolean): fc.Arbitrary<Op[]> =>
  fc
    .tuple(fc.option(initArb, { freq: 5 }), fc.array(opArb(regs, window, cfg), { minLength: 1, maxLength: 40 }))
    .map(([init, ops]) => (init ? [init as Op, ...ops] : ops));

export const virtioMmio = target<{ legacy: boolean; ops: Op[] }>({
  name: 'virtio-mmio',
  summary: 'virtio-mmio register sequences (legacy and modern) with virtio-blk requests',
  arbitrary: fc.record({ legacy: fc.boolean(), ops: opsArb(MMIO_REGS, 0x200, false) }),
  check: (i) => run(() => mmioRig(i.legacy), i.ops),
  ciRuns: 40,
});

export const virtioPci = target<Op[]>({
  name: 'virtio-pci',
  summary: 'virtio-pci common/notify/ISR/device registers and config space (BARs, BME) with virtio-blk requests',
  arbitrary: opsArb(PCI_REGS, 0x4000, true),
  check: (ops) => run(pciRig, ops),
  ciRuns: 40,
});
