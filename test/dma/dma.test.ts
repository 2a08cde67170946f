import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import {
  MEMTX_ACCESS_ERROR,
  MEMTX_DECODE_ERROR,
  MEMTX_ERROR,
  MEMTX_OK,
  memTxAttrs,
  type MemoryRegionOps,
} from '../../src/memory/types.js';
import {
  DMA_DIRECTION_FROM_DEVICE,
  DMA_DIRECTION_TO_DEVICE,
  DmaMapping,
  configureDma,
  dmaMap,
  dmaRead,
  dmaRw,
  dmaSet,
  dmaStats,
  dmaUnmap,
  dmaWrite,
  registerMapClient,
} from '../../src/dma/dma.js';
import { SgList, dmaBufRead, dmaBufWrite } from '../../src/dma/sglist.js';
import { dmaBlkIo } from '../../src/dma/block-io.js';

const RAM = 0x8000_0000;
const IO = 0x1000_0000;

/** RAM at 0x80000000 (64 KiB), a 16-byte register file at 0x10000000, a ROM at 0x1000. */
function machine() {
  const log: string[] = [];
  const sys = MemoryRegion.container('system', 2 ** 33);
  const ram = MemoryRegion.ram('ram', 0x10000);
  const regs = new Uint8Array(16);
  const ops: MemoryRegionOps = {
    read: (o, s) => {
      let v = 0;
      for (let k = s - 1; k >= 0; k--) v = (v << 8) | regs[o + k]!;
      return v >>> 0;
    },
    write: (o, v, s) => {
      for (let k = 0; k < s; k++) regs[o + k] = (v >>> (8 * k)) & 0xff;
    },
  };
  const io = MemoryRegion.io('regs', 16, ops);
  const rom = MemoryRegion.rom('rom', 0x100);
  sys.addSubregion(RAM, ram);
  sys.addSubregion(IO, io);
  sys.addSubregion(0x1000, rom);
  const as = new AddressSpace(sys, 'dma-test', { log: (m) => log.push(m) });
  configureDma(as, { log: (m) => log.push(m) });
  return { as, ram: ram.ramBytes(), regs, rom, log };
}

test('dma read/write go straight to RAM and through dispatch for I/O', () => {
  const { as, ram, regs } = machine();
  const data = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  assert.equal(dmaWrite(as, RAM + 100, data), MEMTX_OK);
  assert.deepEqual(ram.subarray(100, 132), data);
  const back = new Uint8Array(32);
  assert.equal(dmaRead(as, RAM + 100, back), MEMTX_OK);
  assert.deepEqual(back, data);
  assert.equal(dmaWrite(as, IO + 4, data.subarray(0, 8)), MEMTX_OK);
  assert.deepEqual(regs.subarray(4, 12), data.subarray(0, 8));
  const b2 = new Uint8Array(8);
  assert.equal(dmaRw(as, IO + 4, b2, DMA_DIRECTION_TO_DEVICE), MEMTX_OK);
  assert.deepEqual(b2, data.subarray(0, 8));
  assert.equal(dmaSet(as, RAM, 0xab, 5000), MEMTX_OK);
  assert.ok(ram.subarray(0, 5000).every((b) => b === 0xab));
  assert.equal(ram[5000], 0);
  as.destroy();
});

test('dma across RAM, I/O and unassigned boundaries ORs the results and fills failed reads with 0xff', () => {
  const { as, ram, regs } = machine();
  // The last 8 bytes of RAM, then past its end (unassigned).
  const buf = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
  assert.equal(dmaWrite(as, RAM + 0x10000 - 8, buf), MEMTX_DECODE_ERROR);
  assert.deepEqual(ram.subarray(0x10000 - 8), buf.subarray(0, 8));
  const r = new Uint8Array(16);
  assert.equal(dmaRead(as, RAM + 0x10000 - 8, r), MEMTX_DECODE_ERROR);
  assert.deepEqual(r.subarray(0, 8), buf.subarray(0, 8));
  assert.ok(r.subarray(8).every((b) => b === 0xff));
  // I/O then unassigned: the register file gets its 16 bytes, the rest fails.
  const w = Uint8Array.from({ length: 24 }, (_, i) => i);
  assert.equal(dmaWrite(as, IO, w), MEMTX_DECODE_ERROR);
  assert.deepEqual(regs, w.subarray(0, 16));
  // Unassigned then RAM: the RAM part still lands.
  assert.equal(dmaWrite(as, RAM - 4, Uint8Array.of(1, 2, 3, 4, 5, 6)), MEMTX_DECODE_ERROR);
  assert.deepEqual(ram.subarray(0, 2), Uint8Array.of(5, 6));
  // memoryOnly attributes refuse I/O.
  assert.equal(dmaRead(as, IO, new Uint8Array(4), memTxAttrs({ memoryOnly: true })), MEMTX_ACCESS_ERROR);
  as.destroy();
});

test('bad DMA ranges never throw: DECODE_ERROR and a log line', () => {
  const { as, log } = machine();
  for (const [a, l] of [
    [-1, 4],
    [2 ** 53 - 2, 4],
    [NaN, 4],
    [1.5, 4],
  ] as const) {
    const b = new Uint8Array(l);
    assert.equal(dmaRead(as, a, b), MEMTX_DECODE_ERROR);
    assert.ok(b.every((x) => x === 0xff));
    assert.equal(dmaWrite(as, a, b), MEMTX_DECODE_ERROR);
    const m = dmaMap(as, a, l, true);
    assert.equal(m.ok, false);
  }
  assert.equal(dmaSet(as, 2 ** 53, 0, 1), MEMTX_DECODE_ERROR);
  assert.ok(log.some((l) => l.includes('address range invalid')));
  as.destroy();
});

test('map of RAM is a direct view, truncated at the end of the RAM range', () => {
  const { as, ram } = machine();
  const m = dmaMap(as, RAM + 0x10, 0x100, true);
  assert.ok(m instanceof DmaMapping);
  assert.equal(m.kind, 'direct');
  assert.equal(m.length, 0x100);
  assert.equal(m.bytes.buffer, ram.buffer, 'a view of the guest RAM SharedArrayBuffer');
  m.bytes[0] = 0x77;
  assert.equal(ram[0x10], 0x77);
  assert.equal(dmaUnmap(as, m, 1), MEMTX_OK);
  const t = dmaMap(as, RAM + 0xff00, 0x1000, false);
  assert.ok(t.ok);
  assert.equal(t.length, 0x100);
  dmaUnmap(as, t, 0);
  // ROM maps directly for reading but bounces for writing (writes to ROM are dropped at write-back).
  const r = dmaMap(as, 0x1000, 0x10, false);
  assert.ok(r.ok && r.kind === 'direct');
  dmaUnmap(as, r, 0);
  const rw = dmaMap(as, 0x1000, 0x10, true);
  assert.ok(rw.ok && rw.kind === 'bounce');
  rw.bytes.fill(1);
  assert.equal(dmaUnmap(as, rw, 0x10), MEMTX_OK);
  assert.equal(machineRomUntouched(as), true);
  as.destroy();
});

function machineRomUntouched(as: AddressSpace): boolean {
  const b = new Uint8Array(0x10);
  dmaRead(as, 0x1000, b);
  return b.every((x) => x === 0);
}

test('map of I/O bounces: read mappings are filled at map, write mappings written back at unmap (accessLen only)', () => {
  const { as, regs } = machine();
  regs.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const r = dmaMap(as, IO, 16, false);
  assert.ok(r.ok && r.kind === 'bounce');
  assert.deepEqual(r.bytes, regs);
  dmaUnmap(as, r, 16);
  const w = dmaMap(as, IO, 16, true);
  assert.ok(w.ok);
  w.bytes.fill(0xee);
  assert.equal(dmaUnmap(as, w, 6), MEMTX_OK);
  assert.deepEqual(Array.from(regs.subarray(0, 8)), [0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 7, 8]);
  assert.equal(dmaStats(as).bounceUsed, 0);
  // memoryOnly attributes refuse to bounce I/O.
  const mo = dmaMap(as, IO, 4, false, memTxAttrs({ memoryOnly: true }));
  assert.ok(!mo.ok && mo.result === MEMTX_ACCESS_ERROR);
  // Unassigned addresses cannot be mapped at all.
  const u = dmaMap(as, 0x2000_0000, 4, true);
  assert.ok(!u.ok && u.result === MEMTX_DECODE_ERROR && !u.retry);
  as.destroy();
});

test('bounce budget exhaustion refuses the map and notifies registered clients on release', async () => {
  const { as } = machine();
  configureDma(as, { bounceBudget: 12 });
  const a = dmaMap(as, IO, 8, true);
  assert.ok(a.ok && a.length === 8);
  const b = dmaMap(as, IO + 8, 8, true);
  assert.ok(b.ok && b.length === 4, 'the rest of the budget');
  const c = dmaMap(as, IO, 4, true);
  assert.ok(!c.ok && c.retry);
  assert.equal(dmaStats(as).exhausted, 1);
  let woken = 0;
  registerMapClient(as, () => woken++);
  const cancelled = registerMapClient(as, () => woken += 100);
  cancelled.cancel();
  assert.equal(dmaUnmap(as, a, 0), MEMTX_OK);
  assert.equal(woken, 0, 'clients run later, never inside unmap');
  await Promise.resolve();
  assert.equal(woken, 1);
  const d = dmaMap(as, IO, 8, true);
  assert.ok(d.ok);
  dmaUnmap(as, d, 0);
  dmaUnmap(as, b, 0);
  assert.equal(dmaStats(as).bounceUsed, 0);
  assert.throws(() => configureDma(as, { bounceBudget: -1 }), /bounce budget/);
  as.destroy();
});

test('unmap misuse: never mapped, double unmap and foreign mappings are refused without corrupting others', () => {
  const { as, log } = machine();
  const other = machine();
  configureDma(as, { bounceBudget: 16 });
  const keep = dmaMap(as, IO, 8, true);
  const m = dmaMap(as, IO + 8, 8, true);
  assert.ok(keep.ok && m.ok);
  assert.equal(dmaUnmap(as, m, 0), MEMTX_OK);
  assert.equal(dmaUnmap(as, m, 0), MEMTX_ERROR, 'double unmap');
  assert.equal(dmaStats(as).bounceUsed, 8, 'budget released once');
  const foreign = dmaMap(other.as, RAM, 8, true);
  assert.ok(foreign.ok);
  assert.equal(dmaUnmap(as, foreign, 8), MEMTX_ERROR);
  assert.equal(dmaUnmap(as, { ok: true } as unknown as DmaMapping, 0), MEMTX_ERROR);
  assert.equal(dmaStats(as).badUnmaps, 3);
  assert.ok(log.some((l) => l.includes('double unmap')));
  assert.ok(log.some((l) => l.includes('never handed out')));
  keep.bytes.fill(9);
  assert.equal(dmaUnmap(as, keep, 8), MEMTX_OK);
  assert.equal(dmaStats(as).bounceUsed, 0);
  assert.equal(dmaStats(as).liveMappings, 0);
  dmaUnmap(other.as, foreign, 0);
  as.destroy();
  other.as.destroy();
});

test('scatter-gather lists: guest entries are checked; buffer copies cover the shorter side', () => {
  const { as, ram } = machine();
  const sg = new SgList(as);
  assert.equal(sg.add(RAM + 0x100, 4), true);
  assert.equal(sg.add(RAM + 0x200, 0), true);
  assert.equal(sg.add(RAM + 0x300, 8), true);
  assert.equal(sg.add(2 ** 53 - 1, 2), false);
  assert.equal(sg.add(-5, 2), false);
  assert.equal(sg.count, 2);
  assert.equal(sg.size, 12);
  const res = dmaBufRead(Uint8Array.of(1, 2, 3, 4, 5, 6), sg);
  assert.equal(res.result, MEMTX_OK);
  assert.equal(res.residual, 6);
  assert.deepEqual(Array.from(ram.subarray(0x100, 0x104)), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(ram.subarray(0x300, 0x302)), [5, 6]);
  const out = new Uint8Array(20);
  assert.equal(dmaBufWrite(out, sg).residual, 0);
  assert.deepEqual(Array.from(out.subarray(0, 6)), [1, 2, 3, 4, 5, 6]);
  as.destroy();
});

test('dmaBlkIo: chunked block transfers in both directions, bounce waits, completion callback', async () => {
  const { as, ram, regs } = machine();
  configureDma(as, { bounceBudget: 8 });
  const disk = Uint8Array.from({ length: 0x3000 }, (_, i) => (i * 7) & 0xff);
  const backend = async (iov: Uint8Array[], offset: number, dir: number): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    let o = offset;
    for (const v of iov) {
      if (dir === DMA_DIRECTION_FROM_DEVICE) v.set(disk.subarray(o, o + v.length));
      else disk.set(v, o);
      o += v.length;
    }
  };
  // Disk read into RAM (direct) and into the register file (bounce: 8 bytes at a time).
  const sg = new SgList(as);
  sg.add(RAM + 0x1000, 0x2000);
  sg.add(IO, 16);
  let completed: unknown = null;
  const t = dmaBlkIo(sg, 0x100, DMA_DIRECTION_FROM_DEVICE, backend, { maxChunk: 0x800, onComplete: (r) => (completed = r) });
  assert.equal(t.status, 'running');
  const r = await t.done;
  assert.equal(r.status, 'ok');
  assert.equal(r.bytes, 0x2010);
  assert.equal(completed, r);
  assert.deepEqual(ram.subarray(0x1000, 0x3000), disk.subarray(0x100, 0x2100));
  assert.deepEqual(regs, disk.subarray(0x2100, 0x2110));
  assert.equal(dmaStats(as).liveMappings, 0);
  // Disk write from RAM.
  ram.fill(0x5a, 0, 0x800);
  const sg2 = new SgList(as);
  sg2.add(RAM, 0x800);
  const w = await dmaBlkIo(sg2, 0, DMA_DIRECTION_TO_DEVICE, backend).done;
  assert.equal(w.status, 'ok');
  assert.ok(disk.subarray(0, 0x800).every((b) => b === 0x5a));
  // Backend failure: an error completion, mappings released.
  const bad = await dmaBlkIo(sg2, 0, DMA_DIRECTION_FROM_DEVICE, async () => {
    throw new Error('EIO');
  }).done;
  assert.equal(bad.status, 'error');
  assert.equal((bad.error as Error).message, 'EIO');
  assert.equal(dmaStats(as).liveMappings, 0);
  // Unassigned entries fail the transfer.
  const sg3 = new SgList(as);
  sg3.add(0x3000_0000, 16);
  const u = await dmaBlkIo(sg3, 0, DMA_DIRECTION_FROM_DEVICE, backend).done;
  assert.equal(u.status, 'error');
  assert.equal(u.result, MEMTX_DECODE_ERROR);
  as.destroy();
});

test('dmaBlkIo: cancellation stops the transfer and writes nothing back through bounce buffers', async () => {
  const { as, regs } = machine();
  configureDma(as, { bounceBudget: 4 });
  const sg = new SgList(as);
  sg.add(IO, 16);
  let calls = 0;
  let release: () => void = () => {};
  const t = dmaBlkIo(sg, 0, DMA_DIRECTION_FROM_DEVICE, (iov, _o, _d, signal) => {
    calls++;
    for (const v of iov) v.fill(0xcc);
    return new Promise<void>((res) => {
      release = res;
      signal.addEventListener('abort', () => res());
    });
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1);
  t.cancel();
  const r = await t.done;
  assert.equal(r.status, 'cancelled');
  assert.equal(calls, 1);
  assert.ok(regs.every((b) => b === 0), 'the in-flight chunk was not written back');
  assert.equal(dmaStats(as).liveMappings, 0);
  assert.equal(dmaStats(as).bounceUsed, 0);
  release();
  // A transfer waiting for bounce space can be cancelled too.
  const hold = dmaMap(as, IO, 4, true);
  assert.ok(hold.ok);
  const t2 = dmaBlkIo(sg, 0, DMA_DIRECTION_FROM_DEVICE, async () => {});
  await new Promise((r) => setImmediate(r));
  assert.equal(t2.status, 'running');
  t2.cancel();
  assert.equal((await t2.done).status, 'cancelled');
  dmaUnmap(as, hold, 0);
  as.destroy();
});
