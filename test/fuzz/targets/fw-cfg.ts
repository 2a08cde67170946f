/**
 * fw-cfg-dma: FWCfgDmaAccess descriptors as a guest writes them (any control
 * bits, lengths up to 4 GiB, addresses in RAM, in MMIO, unassigned, the
 * descriptor inside its own buffer), mixed with selects, data reads, bottom
 * half turns and resets.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { DMA_BYTES_PER_TURN, FwCfg, FW_CFG_FILE_FIRST } from '../../../src/hw/nvram/fw-cfg.js';
import { RamWatch, hex, target, type Allowed } from '../target.js';

const RAM = 0x80000000;
const RAM_SIZE = 0x10000;
const BASE = 0x10100000;
const MMIO = 0x20000000;

type Op =
  | { kind: 'select'; key: number }
  | { kind: 'data'; n: number }
  | { kind: 'dma'; control: number; length: number; addr: number; desc: number }
  | { kind: 'turn'; n: number }
  | { kind: 'reset' };

const addrArb = fc.oneof(
  fc.nat({ max: RAM_SIZE - 1 }).map((o) => RAM + o),
  fc.constantFrom(0, 0x1000, MMIO, MMIO + 0xffe, RAM + RAM_SIZE - 2, 2 ** 52, 2 ** 64 - 16),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('select' as const), key: fc.oneof(fc.constantFrom(0, 1, 0x19, FW_CFG_FILE_FIRST, FW_CFG_FILE_FIRST + 1, FW_CFG_FILE_FIRST + 2, 0x4000 | FW_CFG_FILE_FIRST), fc.nat({ max: 0xffff })) }),
  fc.record({ kind: fc.constant('data' as const), n: fc.nat({ max: 16 }) }),
  fc.record({
    kind: fc.constant('dma' as const),
    // Well-formed (READ/WRITE/SKIP, maybe SELECT with a file key) or any bits.
    control: fc.oneof(
      fc.record({ op: fc.constantFrom(0x02, 0x04, 0x10, 0x12, 0x00), sel: fc.boolean(), key: fc.constantFrom(0x19, FW_CFG_FILE_FIRST, FW_CFG_FILE_FIRST + 1, FW_CFG_FILE_FIRST + 2) }).map(
        (c) => (c.op | (c.sel ? 0x08 | (c.key << 16) : 0)) >>> 0,
      ),
      fc.nat({ max: 0xffffffff }),
    ),
    length: fc.oneof(fc.nat({ max: 0x100 }), fc.nat({ max: 0x30000 }), fc.constantFrom(0xffffffff, 0x80000000, DMA_BYTES_PER_TURN + 1)),
    addr: addrArb,
    desc: fc.oneof(fc.nat({ max: RAM_SIZE / 16 - 1 }).map((o) => RAM + 16 * o), addrArb),
  }),
  fc.record({ kind: fc.constant('turn' as const), n: fc.integer({ min: 1, max: 4 }) }),
  fc.constant({ kind: 'reset' as const }),
);

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function run(ops: Op[]): void {
  const sys = MemoryRegion.container('system', 2 ** 64);
  const ram = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ram);
  let mmioWrites = 0;
  sys.addSubregion(MMIO, MemoryRegion.io('dev', 0x1000, { read: () => 0, write: () => void mmioWrites++ }));
  const as = new AddressSpace(sys, 'memory');
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const fw = new FwCfg(as, { scheduler: loop });
  fw.mapInto(sys, BASE);
  fw.addFile('etc/big', new Uint8Array(100 * 1024).fill(0x11));
  fw.addFile('etc/small', new Uint8Array(100).fill(0x22));
  fw.addFile('etc/writable', new Uint8Array(16), { writable: true });
  const sizes = [100 * 1024, 100, 16];
  const watch = new RamWatch(ram.ramBytes(), RAM);
  try {
    // Guest memory the DMAs started since the last reset may write: their control word and, for reads, their buffer.
    let allowed: [number, number][] = [];
    for (const op of ops) {
      switch (op.kind) {
        case 'select':
          as.stw(BASE + 8, ((op.key & 0xff) << 8) | (op.key >> 8));
          break;
        case 'data':
          for (let i = 0; i < op.n; i++) as.ldub(BASE);
          break;
        case 'dma': {
          const d = new Uint8Array(16);
          const dv = new DataView(d.buffer);
          dv.setUint32(0, op.control, false);
          dv.setUint32(4, op.length, false);
          dv.setUint32(8, Math.floor(op.addr / 2 ** 32), false);
          dv.setUint32(12, op.addr >>> 0, false);
          as.write(op.desc, d);
          watch.snapshot();
          allowed.push([op.desc, op.desc + 4]);
          if (op.control & 0x02) allowed.push([op.addr, op.addr + op.length]);
          as.stl(BASE + 0x10, bswap32(Math.floor(op.desc / 2 ** 32)));
          as.stl(BASE + 0x14, bswap32(op.desc >>> 0));
          break;
        }
        case 'turn':
          for (let i = 0; i < op.n; i++) loop.runBottomHalves();
          break;
        case 'reset':
          fw.reset();
          assert.equal(fw.dmaBusy, false, 'a reset leaves no transfer running');
          allowed = [];
          watch.snapshot();
          break;
      }
      const bad = watch.changedOutside(allowed as Allowed);
      assert.deepEqual(bad, [], `guest memory written outside the DMA's buffer and control word: ${hex(bad)}`);
      assert.ok(fw.maxStepBytes <= DMA_BYTES_PER_TURN, `one step moved ${fw.maxStepBytes} bytes`);
      // Bounded work: one MMIO access per byte at most, per turn.
      assert.ok(mmioWrites <= DMA_BYTES_PER_TURN * 8 * ops.length);
    }
    fw.reset();
    watch.snapshot();
    for (let i = 0; i < 4; i++) loop.runBottomHalves();
    assert.deepEqual(watch.changedOutside([]), [], 'nothing is written after a reset');
    // File sizes never change (a write DMA only overwrites a writable file in place).
    const dir = new Uint8Array(4 + 64 * 3);
    as.stw(BASE + 8, 0x1900);
    for (let i = 0; i < dir.length; i++) dir[i] = as.ldub(BASE);
    const dv = new DataView(dir.buffer);
    const got = [0, 1, 2].map((i) => dv.getUint32(4 + 64 * i, false)).sort((a, b) => a - b);
    assert.deepEqual(got, [...sizes].sort((a, b) => a - b));
  } finally {
    as.destroy();
  }
}

export default target<Op[]>({
  name: 'fw-cfg-dma',
  summary: 'fw_cfg DMA descriptors, selects and data reads, with resets',
  arbitrary: fc.array(opArb, { minLength: 1, maxLength: 20 }),
  check: run,
  ciRuns: 40,
});
