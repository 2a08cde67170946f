import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { deviceOwner } from '../../src/memory/owner.js';
import { IOMMU_NONE, IOMMU_RW, type IOMMUTLBEntry } from '../../src/memory/iommu.js';
import {
  MEMTX_ACCESS_ERROR,
  MEMTX_DECODE_ERROR,
  MEMTX_ERROR,
  MEMTX_OK,
  memTxAttrs,
  MEMTXATTRS_UNSPECIFIED as U,
  type Endianness,
  type MemTxAttrs,
} from '../../src/memory/types.js';

const quiet = { log: (): void => {} };
const BASE = 0x1000;

interface Piece {
  write: boolean;
  off: number;
  size: number;
  value: number;
}

/**
 * A device whose registers are a byte array laid out in memory order: a
 * callback access of `size` bytes at `off` sees those bytes composed in the
 * device's endianness. The guest then must see the bytes little-endian.
 * With impl.max 8 the callbacks are the *WithAttrs ones (an 8-byte piece's value
 * as two halves; `value` records the low one).
 */
function registerFile(endianness: Endianness, valid: { min: number; max: number; unaligned: boolean }, impl: { min: number; max: number; unaligned: boolean }) {
  const mem = new Uint8Array(64);
  const pieces: Piece[] = [];
  // Bit position of the k-th byte (memory order) of a `size`-byte value.
  const bit = (k: number, size: number): number => 8 * (endianness === 'big' ? size - 1 - k : k);
  const half = (off: number, size: number, h: 0 | 1): number => {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const b = bit(k, size) - 32 * h;
      if (b >= 0 && b < 32) v += mem[off + k]! * 2 ** b;
    }
    return v;
  };
  const store = (off: number, size: number, lo: number, hi: number): void => {
    for (let k = 0; k < size; k++) {
      const b = bit(k, size);
      mem[off + k] = (b < 32 ? lo >>> b : hi >>> (b - 32)) & 0xff;
    }
  };
  const ops =
    impl.max === 8
      ? {
          readWithAttrs: (off: number, size: number, _a: MemTxAttrs, out: Uint32Array) => {
            out[0] = half(off, size, 0);
            out[1] = half(off, size, 1);
            pieces.push({ write: false, off, size, value: out[0]! });
            return MEMTX_OK;
          },
          writeWithAttrs: (off: number, value: number, size: number, _a: MemTxAttrs, hi: number) => {
            pieces.push({ write: true, off, size, value });
            store(off, size, value, hi);
            return MEMTX_OK;
          },
        }
      : {
          read: (off: number, size: number) => {
            pieces.push({ write: false, off, size, value: half(off, size, 0) });
            return half(off, size, 0);
          },
          write: (off: number, value: number, size: number) => {
            pieces.push({ write: true, off, size, value });
            store(off, size, value, 0);
          },
        };
  const mr = MemoryRegion.io('regs', 32, { endianness, valid, impl, ...ops });
  return { mem, pieces, mr };
}

function leValue(bytes: Uint8Array, off: number, size: number): [number, number] {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < Math.min(size, 4); k++) lo += bytes[off + k]! * 2 ** (8 * k);
  for (let k = 4; k < size; k++) hi += bytes[off + k]! * 2 ** (8 * (k - 4));
  return [lo, hi];
}

test('access-size matrix: valid/impl sizes, alignment and endianness', () => {
  const sizes = [1, 2, 4, 8];
  let checked = 0;
  for (const endianness of ['little', 'big'] as const)
    for (const vmin of [1, 2, 4])
      for (const vmax of [1, 2, 4, 8])
        for (const vun of [false, true])
          for (const imin of [1, 2, 4, 8])
            for (const imax of [1, 2, 4, 8])
              for (const iun of [false, true]) {
                if (vmin > vmax || imin > imax) continue;
                const dev = registerFile(endianness, { min: vmin, max: vmax, unaligned: vun }, { min: imin, max: imax, unaligned: iun });
                const sys = MemoryRegion.container('sys', 0x10000);
                sys.addSubregion(BASE, dev.mr);
                const as = new AddressSpace(sys, 'matrix', quiet);
                for (const size of sizes)
                  for (let off = 0; off + size <= 16; off++) {
                    for (let k = 0; k < dev.mem.length; k++) dev.mem[k] = (k * 37 + 11) & 0xff;
                    const snapshot = dev.mem.slice();
                    const valid = size >= vmin && size <= vmax && (vun || off % size === 0);
                    const ctx = `${endianness} valid ${vmin}-${vmax}${vun ? 'u' : ''} impl ${imin}-${imax}${iun ? 'u' : ''} size ${size} off ${off}`;
                    // Read.
                    dev.pieces.length = 0;
                    const r = as.load(BASE + off, size, U);
                    if (!valid) {
                      assert.equal(r, MEMTX_DECODE_ERROR, ctx);
                      assert.equal(dev.pieces.length, 0, `${ctx}: callbacks must not run`);
                      assert.equal(as.valLo, size >= 4 ? 0xffffffff : 2 ** (8 * size) - 1, ctx);
                    } else {
                      assert.equal(r, MEMTX_OK, ctx);
                      const [lo, hi] = leValue(dev.mem, off, size);
                      assert.equal(as.valLo, lo, `${ctx}: value lo`);
                      assert.equal(as.valHi, hi, `${ctx}: value hi`);
                      checkPieces(dev.pieces, off, size, imin, imax, iun, ctx);
                    }
                    // Write.
                    dev.pieces.length = 0;
                    const lo = (0xa1b2c3d4 ^ (off * 0x01010101)) >>> 0;
                    const hi = 0x55667788;
                    const w = as.store(BASE + off, size, size === 8 ? lo : lo % 2 ** (8 * size), hi, U);
                    if (!valid) {
                      assert.equal(w, MEMTX_DECODE_ERROR, ctx);
                      assert.equal(dev.pieces.length, 0, ctx);
                      assert.deepEqual(dev.mem, snapshot, ctx);
                    } else {
                      assert.equal(w, MEMTX_OK, ctx);
                      checkPieces(dev.pieces, off, size, imin, imax, iun, ctx);
                      const [wl, wh] = leValue(dev.mem, off, size);
                      assert.equal(wl, size >= 4 ? lo : lo % 2 ** (8 * size), `${ctx}: written lo`);
                      assert.equal(wh, size === 8 ? hi : 0, `${ctx}: written hi`);
                      // Bytes outside every piece are untouched; bytes inside pieces but outside the access are zero.
                      for (let k = 0; k < dev.mem.length; k++) {
                        if (k >= off && k < off + size) continue;
                        const inPiece = dev.pieces.some((p) => k >= p.off && k < p.off + p.size);
                        assert.equal(dev.mem[k], inPiece ? 0 : snapshot[k], `${ctx}: byte ${k}`);
                      }
                    }
                    checked++;
                  }
                as.destroy();
              }
  assert.ok(checked > 10000);
});

function checkPieces(pieces: Piece[], off: number, size: number, imin: number, imax: number, iun: boolean, ctx: string): void {
  assert.ok(pieces.length > 0, ctx);
  const ps = Math.min(Math.max(size, imin), imax);
  for (const p of pieces) {
    assert.equal(p.size, ps, `${ctx}: piece size`);
    if (!iun) assert.equal(p.off % p.size, 0, `${ctx}: piece aligned`);
  }
  // Every byte of the access is covered exactly once.
  for (let k = off; k < off + size; k++) {
    const n = pieces.filter((p) => k >= p.off && k < p.off + p.size).length;
    assert.equal(n, 1, `${ctx}: byte ${k} covered ${n} times`);
  }
}

test('8-byte accesses to a big-endian 4-byte device', () => {
  const dev = registerFile('big', { min: 4, max: 8, unaligned: false }, { min: 4, max: 4, unaligned: false });
  dev.mem.set([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
  const sys = MemoryRegion.container('sys', 0x10000);
  sys.addSubregion(BASE, dev.mr);
  const as = new AddressSpace(sys, 'be', quiet);
  assert.equal(as.load(BASE, 8, U), MEMTX_OK);
  assert.deepEqual(dev.pieces.map((p) => [p.off, p.value]), [
    [0, 0x11223344],
    [4, 0x55667788],
  ]);
  assert.equal(as.ldq(BASE), 0x8877665544332211n);
  as.destroy();
});

test('buffer reads and writes span RAM, I/O and unassigned ranges', () => {
  const sys = MemoryRegion.container('sys', 0x10000);
  const ram = MemoryRegion.ram('ram', 0x10);
  const log: string[] = [];
  const io = MemoryRegion.io('io', 8, {
    read: (o, s) => {
      log.push(`r${o}:${s}`);
      return 0x03020100 + 0x04040404 * (o >> 2);
    },
    write: (o, v, s) => log.push(`w${o}:${s}=${v.toString(16)}`),
    valid: { min: 1, max: 4 },
  });
  sys.addSubregion(0x100, ram);
  sys.addSubregion(0x110, io);
  // 0x118..0x11f unassigned, then ROM.
  const rom = MemoryRegion.rom('rom', 0x10);
  rom.ramBytes().fill(0xab);
  sys.addSubregion(0x120, rom);
  const as = new AddressSpace(sys, 'span', quiet);
  ram.ramBytes().set([...Array(16).keys()]);
  const buf = new Uint8Array(0x24);
  const r = as.read(0x0fe, buf);
  assert.equal(r, MEMTX_DECODE_ERROR, 'unassigned bytes make the result DECODE_ERROR');
  assert.deepEqual([...buf.subarray(0, 2)], [0xff, 0xff]);
  assert.deepEqual([...buf.subarray(2, 18)], [...Array(16).keys()]);
  assert.deepEqual([...buf.subarray(18, 26)], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual([...buf.subarray(26, 34)], Array(8).fill(0xff));
  assert.deepEqual([...buf.subarray(34, 36)], [0xab, 0xab]);
  assert.deepEqual(log, ['r0:4', 'r4:4']);
  // Unaligned I/O pieces follow natural alignment.
  log.length = 0;
  assert.equal(as.read(0x111, new Uint8Array(6)), MEMTX_OK);
  assert.deepEqual(log, ['r1:1', 'r2:2', 'r4:2', 'r6:1']);
  log.length = 0;
  const w = new Uint8Array(0x20).fill(0x5a);
  assert.equal(as.write(0x108, w), MEMTX_DECODE_ERROR);
  assert.deepEqual([...ram.ramBytes().subarray(8)], Array(8).fill(0x5a));
  assert.deepEqual(log, ['w0:4=5a5a5a5a', 'w4:4=5a5a5a5a']);
  assert.equal(rom.ignoredWrites, 1);
  assert.deepEqual([...rom.ramBytes()], Array(16).fill(0xab));
  // A load that crosses from RAM into I/O is split at the boundary.
  log.length = 0;
  assert.equal(as.load(0x10e, 4, U), MEMTX_OK);
  assert.equal(as.valLo, 0x01005a5a);
  assert.deepEqual(log, ['r0:2']);
  // An access running past 2^53 decodes as unassigned there.
  assert.equal(as.read(2 ** 53 - 2, new Uint8Array(4)), MEMTX_DECODE_ERROR);
  assert.ok(as.unassignedAccesses > 0);
  as.destroy();
});

test('memoryOnly rejects non-RAM targets; ROM devices in and out of romd mode', () => {
  const sys = MemoryRegion.container('sys', 0x10000);
  const writes: number[] = [];
  const flash = MemoryRegion.romDevice('flash', 0x100, {
    read: () => 0x98,
    write: (_o, v) => writes.push(v),
  });
  flash.ramBytes().fill(0x11);
  sys.addSubregion(0x1000, flash);
  const res = MemoryRegion.reservation('hole', 0x100);
  sys.addSubregion(0x2000, res);
  const as = new AddressSpace(sys, 'romd', quiet);
  const mo = memTxAttrs({ memoryOnly: true });
  assert.equal(as.ldub(0x1000), 0x11);
  assert.notEqual(as.ramPtr(0x1000, 4, false), null);
  assert.equal(as.ramPtr(0x1000, 4, true), null);
  as.stb(0x1000, 0xf0);
  assert.deepEqual(writes, [0xf0]);
  assert.equal(as.store(0x1000, 1, 0xff, 0, mo), MEMTX_ACCESS_ERROR);
  assert.equal(as.load(0x1000, 1, mo), MEMTX_OK);
  flash.setRomdMode(false);
  assert.equal(as.ldub(0x1000), 0x98);
  assert.equal(as.ramPtr(0x1000, 4, false), null);
  assert.equal(as.load(0x1000, 1, mo), MEMTX_ACCESS_ERROR);
  assert.equal(as.load(0x2000, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(as.valLo, 0xffffffff);
  assert.equal(as.flatView().lookup(0x2000)?.mr, res);
  as.destroy();
});

test('read-only RAM and ramPtr', () => {
  const sys = MemoryRegion.container('sys', 0x10000);
  const ram = MemoryRegion.ram('ram', 0x1000);
  sys.addSubregion(0x4000, ram);
  const as = new AddressSpace(sys, 'ro', quiet);
  const p = as.ramPtr(0x4010, 8, true)!;
  assert.equal(p.base, 0x4000);
  assert.equal(p.length, 0x1000);
  assert.equal(p.offset, 0x10);
  p.bytes[p.offset] = 0x42;
  assert.equal(as.ldub(0x4010), 0x42);
  assert.equal(as.ramPtr(0x4ffc, 8, false), null, 'runs past the range');
  const e = as.epoch;
  ram.setReadonly(true);
  assert.ok(as.epoch > e);
  assert.equal(as.ramPtr(0x4010, 8, true), null);
  assert.equal(as.stb(0x4010, 0x99), MEMTX_OK);
  assert.equal(as.ldub(0x4010), 0x42);
  assert.equal(ram.ignoredWrites, 1);
  as.destroy();
});

test('reentrancy guard: chains through DMA, logged once per region, opt-out with a reason', () => {
  const edu = deviceOwner('edu');
  const other = deviceOwner('other');
  const sys = MemoryRegion.container('sys', 0x10000);
  const logs: string[] = [];
  let as!: AddressSpace;
  const results: number[] = [];
  const eduMmio = MemoryRegion.io('edu-mmio', 0x100, {
    read: () => 1,
    write: (o) => {
      // "DMA" into another device, which then touches edu again.
      if (o === 0) results.push(as.store(0x2000, 4, 0, 0, U));
      if (o === 4) results.push(as.load(0x1000, 4, U));
    },
  }, { owner: edu });
  const eduBar2 = MemoryRegion.io('edu-bar2', 0x100, { read: () => 2 }, { owner: edu });
  const otherMmio = MemoryRegion.io('other-mmio', 0x100, {
    write: () => {
      results.push(as.load(0x1100, 4, U)); // edu's second region while edu is busy
    },
  }, { owner: other });
  sys.addSubregion(0x1000, eduMmio);
  sys.addSubregion(0x1100, eduBar2);
  sys.addSubregion(0x2000, otherMmio);
  as = new AddressSpace(sys, 'guard', { log: (m) => logs.push(m) });
  assert.equal(as.store(0x1000, 4, 0, 0, U), MEMTX_OK);
  // edu -> other's MMIO is fine; other -> edu's second region is refused.
  assert.deepEqual(results, [MEMTX_ACCESS_ERROR, MEMTX_OK]);
  results.length = 0;
  assert.equal(as.store(0x1004, 4, 0, 0, U), MEMTX_OK);
  assert.equal(as.store(0x1004, 4, 0, 0, U), MEMTX_OK);
  assert.deepEqual(results, [MEMTX_ACCESS_ERROR, MEMTX_ACCESS_ERROR]);
  assert.equal(eduBar2.reentrancyRefusals, 1);
  assert.equal(eduMmio.reentrancyRefusals, 2);
  assert.equal(edu.reentrancyGuard.refused, 3);
  assert.equal(logs.length, 2, 'once per region');
  assert.ok(!edu.reentrancyGuard.engaged, 'guard released');
  // Still usable afterwards.
  assert.equal(as.ldl(0x1100), 2);
  // Opting out lets the nested access through.
  eduMmio.disableReentrancyGuard('test: edu tolerates nested access to its own registers');
  results.length = 0;
  as.store(0x1004, 4, 0, 0, U);
  assert.deepEqual(results, [MEMTX_OK]);
  // Bottom halves engage the same guard.
  edu.reentrancyGuard.runGuarded(() => {
    assert.equal(as.load(0x1100, 4, U), MEMTX_ACCESS_ERROR);
  });
  assert.equal(as.ldl(0x1100), 2);
  // Exceptions from callbacks propagate but release the guard.
  const boom = MemoryRegion.io('boom', 4, { read: () => { throw new Error('device bug'); } }, { owner: edu });
  sys.addSubregion(0x3000, boom);
  assert.throws(() => as.load(0x3000, 4, U), /device bug/);
  assert.ok(!edu.reentrancyGuard.engaged);
  as.destroy();
});

test('impl.max 8: an 8-byte access is one callback with both halves, in either endianness', () => {
  for (const endianness of ['little', 'big'] as const) {
    const dev = registerFile(endianness, { min: 4, max: 8, unaligned: false }, { min: 4, max: 8, unaligned: false });
    dev.mem.set([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    const sys = MemoryRegion.container('sys', 0x10000);
    sys.addSubregion(BASE, dev.mr);
    const as = new AddressSpace(sys, 'q', quiet);
    assert.equal(as.ldq(BASE), 0x8877665544332211n, endianness);
    assert.deepEqual(dev.pieces.map((p) => [p.write, p.off, p.size]), [[false, 0, 8]], endianness);
    dev.pieces.length = 0;
    assert.equal(as.store(BASE + 8, 8, 0xddccbbaa, 0x01ffeeff, U), MEMTX_OK);
    assert.deepEqual(dev.pieces.map((p) => [p.write, p.off, p.size]), [[true, 8, 8]], endianness);
    assert.deepEqual([...dev.mem.subarray(8, 16)], [0xaa, 0xbb, 0xcc, 0xdd, 0xff, 0xee, 0xff, 0x01], endianness);
    as.destroy();
  }
});

test('impl.max 8 needs the *WithAttrs callbacks; impl.max above 8 is refused', () => {
  assert.throws(() => MemoryRegion.io('r', 8, { read: () => 0, valid: { min: 8, max: 8 }, impl: { min: 8, max: 8 } }), /impl.max 8 needs readWithAttrs/);
  assert.throws(() => MemoryRegion.io('w', 8, { readWithAttrs: () => MEMTX_OK, write: () => {}, impl: { min: 4, max: 8 } }), /impl.max 8 needs/);
  assert.throws(() => MemoryRegion.io('x', 16, { readWithAttrs: () => MEMTX_OK, impl: { min: 4, max: 16 } }), /max <= 8/);
  MemoryRegion.io('ok', 8, { readWithAttrs: () => MEMTX_OK, writeWithAttrs: () => MEMTX_OK, impl: { min: 4, max: 8 } });
});

test('readWithAttrs/writeWithAttrs receive attrs and may fail; results OR over pieces', () => {
  const seen: MemTxAttrs[] = [];
  const mr = MemoryRegion.io('attrs', 8, {
    valid: { min: 1, max: 8 },
    readWithAttrs: (o, _s, attrs, out) => {
      seen.push(attrs);
      out[0] = 0x01010101 * (o + 1);
      return o === 4 ? MEMTX_ERROR : MEMTX_OK;
    },
    writeWithAttrs: (o) => (o === 0 ? MEMTX_ERROR : MEMTX_OK),
  });
  const sys = MemoryRegion.container('sys', 0x10000);
  sys.addSubregion(0, mr);
  const as = new AddressSpace(sys, 'attrs', quiet);
  const a = memTxAttrs({ requesterId: 3, secure: true, user: true });
  assert.equal(as.load(0, 8, a), MEMTX_ERROR);
  assert.equal(as.valLo, 0x01010101);
  assert.equal(as.valHi, 0x05050505);
  assert.ok(seen.every((x) => x === a));
  assert.equal(as.store(0, 4, 0, 0, a), MEMTX_ERROR);
  assert.equal(as.store(4, 4, 0, 0, a), MEMTX_OK);
  as.destroy();
});

test('IOMMU regions translate into a target address space', () => {
  const sys = MemoryRegion.container('sys', 0x100000);
  const ram = MemoryRegion.ram('ram', 0x10000);
  sys.addSubregion(0x10000, ram);
  const target = new AddressSpace(sys, 'target', quiet);
  const iommu = MemoryRegion.iommu('iommu', 0x100000, {
    translate: (addr): IOMMUTLBEntry => {
      const iova = addr - (addr % 0x1000);
      // Page 0 maps to RAM page 5; everything else faults.
      return iova === 0
        ? { targetAs: target, iova, translatedAddr: 0x15000, addrMask: 0xfff, perm: IOMMU_RW }
        : { targetAs: target, iova, translatedAddr: 0, addrMask: 0xfff, perm: IOMMU_NONE };
    },
  });
  const dmaRoot = MemoryRegion.container('dma', 0x100000);
  dmaRoot.addSubregion(0, iommu);
  const dma = new AddressSpace(dmaRoot, 'dma', quiet);
  assert.equal(dma.stl(0x10, 0xcafef00d), MEMTX_OK);
  assert.equal(target.ldl(0x15010), 0xcafef00d);
  assert.equal(dma.ldl(0x10), 0xcafef00d);
  assert.equal(dma.load(0x1000, 4, U), MEMTX_ACCESS_ERROR);
  assert.equal(dma.read(0xffe, new Uint8Array(4)), MEMTX_ACCESS_ERROR);
  dma.destroy();
  target.destroy();
});

test('guest accesses never throw, whatever the address, size or value', async () => {
  const fc = (await import('fast-check')).default;
  const { randomTree } = await import('./model.js');
  fc.assert(
    fc.property(
      fc.integer(),
      fc.array(
        fc.tuple(
          fc.oneof(fc.integer({ min: -16, max: 0x220 }), fc.constantFrom(NaN, Infinity, -Infinity, 0.5, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -(2 ** 53))),
          fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 16, -1, 1.5, NaN),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: 40 }),
          fc.boolean(),
        ),
        { maxLength: 40 },
      ),
      (seed, accesses) => {
        const t = randomTree(seed);
        const as = new AddressSpace(t.root, 'fuzz', quiet);
        try {
          for (const [addr, size, v, len, memOnly] of accesses) {
            const attrs = memOnly ? memTxAttrs({ memoryOnly: true }) : U;
            const results = [
              as.load(addr, size, attrs),
              as.store(addr, size, v, v, attrs),
              as.read(addr, new Uint8Array(len), attrs),
              as.write(addr, new Uint8Array(len).fill(v & 0xff), attrs),
            ];
            for (const r of results) assert.ok(Number.isInteger(r) && r >= 0 && r <= 7);
            assert.ok(as.valLo >= 0 && as.valLo <= 0xffffffff && Number.isInteger(as.valLo));
            const p = as.ramPtr(addr, size, memOnly);
            if (p) assert.ok(p.offset >= 0 && p.offset + size <= p.bytes.length);
          }
        } finally {
          as.destroy();
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('an access keeps the view it started with when a callback changes the map', () => {
  const sys = MemoryRegion.container('sys', 0x10000);
  const ram = MemoryRegion.ram('ram', 0x10);
  ram.ramBytes().fill(0x77);
  const io = MemoryRegion.io('unplugger', 4, {
    read: () => {
      sys.removeSubregion(ram); // commits and publishes at once
      return 0x01010101;
    },
  });
  sys.addSubregion(0x100, io);
  sys.addSubregion(0x104, ram);
  const as = new AddressSpace(sys, 'inflight', quiet);
  const e = as.epoch;
  const buf = new Uint8Array(8);
  assert.equal(as.read(0x100, buf), MEMTX_OK);
  assert.deepEqual([...buf], [1, 1, 1, 1, 0x77, 0x77, 0x77, 0x77]);
  assert.ok(as.epoch > e, 'the removal was published');
  assert.equal(as.read(0x104, new Uint8Array(4)), MEMTX_DECODE_ERROR, 'later accesses see the new view');
  as.destroy();
});

test('an IOMMU translating back into itself fails instead of recursing forever', () => {
  const root = MemoryRegion.container('loop', 0x10000);
  let as!: AddressSpace;
  root.addSubregion(0, MemoryRegion.iommu('self', 0x10000, {
    translate: (addr): IOMMUTLBEntry => ({ targetAs: as, iova: addr - (addr % 0x1000), translatedAddr: addr - (addr % 0x1000), addrMask: 0xfff, perm: IOMMU_RW }),
  }));
  as = new AddressSpace(root, 'loop', quiet);
  assert.equal(as.load(0x10, 4, U), MEMTX_ACCESS_ERROR);
  assert.equal(as.valLo, 0xffffffff);
  as.destroy();
});
