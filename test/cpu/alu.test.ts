/**
 * Differential test of the 64-bit integer datapath (registers as 32-bit
 * halves, the 53-bit division fast path, Math.imul products) against a BigInt
 * reference, on random operands biased towards the edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { xorshift32 as rng } from '../helpers/rng.js';

const M64 = (1n << 64n) - 1n;
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);

type Ref = (a: bigint, b: bigint) => bigint;
// [name, funct7, funct3, opcode, reference]
const OPS: [string, number, number, number, Ref][] = [
  ['add', 0, 0, 0x33, (a, b) => a + b],
  ['sub', 0x20, 0, 0x33, (a, b) => a - b],
  ['sll', 0, 1, 0x33, (a, b) => a << (b & 63n)],
  ['slt', 0, 2, 0x33, (a, b) => (s64(a) < s64(b) ? 1n : 0n)],
  ['sltu', 0, 3, 0x33, (a, b) => (u64(a) < u64(b) ? 1n : 0n)],
  ['xor', 0, 4, 0x33, (a, b) => a ^ b],
  ['srl', 0, 5, 0x33, (a, b) => u64(a) >> (b & 63n)],
  ['sra', 0x20, 5, 0x33, (a, b) => s64(a) >> (b & 63n)],
  ['or', 0, 6, 0x33, (a, b) => a | b],
  ['and', 0, 7, 0x33, (a, b) => a & b],
  ['mul', 1, 0, 0x33, (a, b) => a * b],
  ['mulh', 1, 1, 0x33, (a, b) => (s64(a) * s64(b)) >> 64n],
  ['mulhsu', 1, 2, 0x33, (a, b) => (s64(a) * u64(b)) >> 64n],
  ['mulhu', 1, 3, 0x33, (a, b) => (u64(a) * u64(b)) >> 64n],
  ['div', 1, 4, 0x33, (a, b) => (s64(b) === 0n ? -1n : s64(a) === -(1n << 63n) && s64(b) === -1n ? s64(a) : s64(a) / s64(b))],
  ['divu', 1, 5, 0x33, (a, b) => (u64(b) === 0n ? M64 : u64(a) / u64(b))],
  ['rem', 1, 6, 0x33, (a, b) => (s64(b) === 0n ? a : s64(a) === -(1n << 63n) && s64(b) === -1n ? 0n : s64(a) % s64(b))],
  ['remu', 1, 7, 0x33, (a, b) => (u64(b) === 0n ? a : u64(a) % u64(b))],
  ['addw', 0, 0, 0x3b, (a, b) => s32(a + b)],
  ['subw', 0x20, 0, 0x3b, (a, b) => s32(a - b)],
  ['sllw', 0, 1, 0x3b, (a, b) => s32(a << (b & 31n))],
  ['srlw', 0, 5, 0x3b, (a, b) => s32(u32(a) >> (b & 31n))],
  ['sraw', 0x20, 5, 0x3b, (a, b) => s32(s32(a) >> (b & 31n))],
  ['mulw', 1, 0, 0x3b, (a, b) => s32(a * b)],
  ['divw', 1, 4, 0x3b, (a, b) => (s32(b) === 0n ? -1n : s32(a) === -(1n << 31n) && s32(b) === -1n ? s32(a) : s32(s32(a) / s32(b)))],
  ['divuw', 1, 5, 0x3b, (a, b) => (u32(b) === 0n ? -1n : s32(u32(a) / u32(b)))],
  ['remw', 1, 6, 0x3b, (a, b) => (s32(b) === 0n ? s32(a) : s32(a) === -(1n << 31n) && s32(b) === -1n ? 0n : s32(s32(a) % s32(b)))],
  ['remuw', 1, 7, 0x3b, (a, b) => (u32(b) === 0n ? s32(a) : s32(u32(a) % u32(b)))],
];

const EDGES = [0n, 1n, 2n, 3n, -1n, -2n, 7n, -7n, 1n << 31n, (1n << 31n) - 1n, -(1n << 31n), 1n << 32n, (1n << 32n) - 1n,
  (1n << 52n) - 1n, 1n << 52n, -(1n << 52n), (1n << 53n) + 1n, 1n << 63n, (1n << 63n) - 1n, 0xdeadbeefcafebaben];

test('R-type integer ops match a BigInt reference on random and edge operands', () => {
  const root = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 1 << 16);
  root.addSubregion(0x80000000, ram);
  const as = new AddressSpace(root, 'memory');
  const hart = new Hart({ hartId: 0, mem: as, timeSource: () => 0 });
  const dv = new DataView(ram.ramBytes().buffer, ram.ramBytes().byteOffset);
  const next = rng(99);
  const operand = (): bigint => {
    const k = next() % 4;
    if (k === 0) return EDGES[next() % EDGES.length]!;
    if (k === 1) return BigInt(next() | 0); // 32-bit signed
    if (k === 2) return (BigInt(next() & 0xfffff) << 32n) | BigInt(next()); // 52-bit
    return (BigInt(next()) << 32n) | BigInt(next());
  };
  for (const [name, f7, f3, op, ref] of OPS) {
    const insn = (f7 << 25) | (2 << 20) | (1 << 15) | (f3 << 12) | (3 << 7) | op;
    dv.setInt32(0, insn, true);
    for (let i = 0; i < 400; i++) {
      const a = operand();
      const b = operand();
      hart.reset(0x80000000);
      hart.setX(1, a);
      hart.setX(2, b);
      hart.run(1);
      assert.equal(hart.getX(3), u64(ref(a, b)), `${name} ${u64(a).toString(16)}, ${u64(b).toString(16)}`);
    }
  }
});

test('64-bit dividends with divisors below 2^32 (the long-division path) match BigInt', () => {
  const root = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 1 << 16);
  root.addSubregion(0x80000000, ram);
  const as = new AddressSpace(root, 'memory');
  const hart = new Hart({ hartId: 0, mem: as, timeSource: () => 0 });
  const dv = new DataView(ram.ramBytes().buffer, ram.ramBytes().byteOffset);
  const next = rng(2024);
  const divs = OPS.filter(([n]) => ['div', 'divu', 'rem', 'remu'].includes(n));
  for (const [name, f7, f3, op, ref] of divs) {
    dv.setInt32(0, (f7 << 25) | (2 << 20) | (1 << 15) | (f3 << 12) | (3 << 7) | op, true);
    for (let i = 0; i < 3000; i++) {
      const a = i % 50 === 0 ? EDGES[next() % EDGES.length]! : (BigInt(next()) << 32n) | BigInt(next());
      const k = next() % 4;
      const b = k === 0 ? BigInt(next() % 16) - 8n : k === 1 ? BigInt(next() | 0) : k === 2 ? BigInt(next()) : -BigInt(next());
      hart.reset(0x80000000);
      hart.setX(1, a);
      hart.setX(2, b);
      hart.run(1);
      assert.equal(hart.getX(3), u64(ref(a, b)), `${name} ${u64(a).toString(16)}, ${u64(b).toString(16)}`);
    }
  }
});
