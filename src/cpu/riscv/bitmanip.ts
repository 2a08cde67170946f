/**
 * The bit-manipulation extensions Zba, Zbb, Zbc and Zbs (ratified 1.0.0), as QEMU 7.2's rv64
 * CPU has them: their decoding, shared by the hart, the translator (jit/bitmanip-ops.ts
 * writes them inline) and the disassembler, and their semantics for the JavaScript side, which
 * runs them when the interpreter loop leaves them to it (the loop executes only the base
 * encodings of its opcodes) and for the carry-less multiplies in translated blocks.
 */
import type { Hart } from './hart.js';

/** The instructions, by the index zbKind returns. */
export const ZB_NAMES = [
  'sh1add', 'sh2add', 'sh3add', 'add.uw', 'sh1add.uw', 'sh2add.uw', 'sh3add.uw', 'slli.uw',
  'andn', 'orn', 'xnor', 'clz', 'ctz', 'cpop', 'clzw', 'ctzw', 'cpopw', 'max', 'maxu', 'min', 'minu',
  'sext.b', 'sext.h', 'zext.h', 'rol', 'ror', 'rori', 'rolw', 'rorw', 'roriw', 'orc.b', 'rev8',
  'clmul', 'clmulh', 'clmulr', 'bclr', 'bclri', 'bext', 'bexti', 'binv', 'binvi', 'bset', 'bseti',
] as const;

export const ZB = Object.fromEntries(ZB_NAMES.map((n, i) => [n, i])) as { readonly [K in (typeof ZB_NAMES)[number]]: number };

/** Operand forms: rd, rs1, rs2 / rd, rs1 / rd, rs1, shift amount (bits 20.., 6 bits or 5 for the W forms). */
export const ZB_R = 0;
export const ZB_UNARY = 1;
export const ZB_SHAMT = 2;

/** The operand form of instruction `kind`. */
export function zbForm(kind: number): number {
  switch (kind) {
    case ZB['clz']: case ZB['ctz']: case ZB['cpop']: case ZB['clzw']: case ZB['ctzw']: case ZB['cpopw']:
    case ZB['sext.b']: case ZB['sext.h']: case ZB['zext.h']: case ZB['orc.b']: case ZB['rev8']:
      return ZB_UNARY;
    case ZB['slli.uw']: case ZB['rori']: case ZB['roriw']: case ZB['bclri']: case ZB['bexti']: case ZB['binvi']: case ZB['bseti']:
      return ZB_SHAMT;
    default:
      return ZB_R;
  }
}

/** funct7 << 3 | funct3 of OP (0x33) -> instruction. */
const OP_R: ReadonlyMap<number, number> = new Map([
  [(0x10 << 3) | 2, ZB['sh1add']], [(0x10 << 3) | 4, ZB['sh2add']], [(0x10 << 3) | 6, ZB['sh3add']],
  [(0x20 << 3) | 7, ZB['andn']], [(0x20 << 3) | 6, ZB['orn']], [(0x20 << 3) | 4, ZB['xnor']],
  [(0x05 << 3) | 6, ZB['max']], [(0x05 << 3) | 7, ZB['maxu']], [(0x05 << 3) | 4, ZB['min']], [(0x05 << 3) | 5, ZB['minu']],
  [(0x30 << 3) | 1, ZB['rol']], [(0x30 << 3) | 5, ZB['ror']],
  [(0x05 << 3) | 1, ZB['clmul']], [(0x05 << 3) | 3, ZB['clmulh']], [(0x05 << 3) | 2, ZB['clmulr']],
  [(0x24 << 3) | 1, ZB['bclr']], [(0x24 << 3) | 5, ZB['bext']], [(0x34 << 3) | 1, ZB['binv']], [(0x14 << 3) | 1, ZB['bset']],
]);

/** The same for OP-32 (0x3b). */
const OP32_R: ReadonlyMap<number, number> = new Map([
  [(0x04 << 3) | 0, ZB['add.uw']], [(0x10 << 3) | 2, ZB['sh1add.uw']], [(0x10 << 3) | 4, ZB['sh2add.uw']], [(0x10 << 3) | 6, ZB['sh3add.uw']],
  [(0x30 << 3) | 1, ZB['rolw']], [(0x30 << 3) | 5, ZB['rorw']],
]);

/** Which Zba/Zbb/Zbc/Zbs instruction the 32-bit `insn` is, or -1. */
export function zbKind(insn: number): number {
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  const imm = (insn >>> 20) & 0xfff;
  switch (insn & 0x7f) {
    case 0x33:
      return OP_R.get((f7 << 3) | f3) ?? -1;
    case 0x3b:
      if (f7 === 0x04 && f3 === 4) return ((insn >> 20) & 31) === 0 ? ZB['zext.h'] : -1;
      return OP32_R.get((f7 << 3) | f3) ?? -1;
    case 0x13:
      if (f3 === 1) {
        switch (imm) {
          case 0x600: return ZB['clz'];
          case 0x601: return ZB['ctz'];
          case 0x602: return ZB['cpop'];
          case 0x604: return ZB['sext.b'];
          case 0x605: return ZB['sext.h'];
        }
        switch (imm >> 6) {
          case 0x12: return ZB['bclri'];
          case 0x0a: return ZB['bseti'];
          case 0x1a: return ZB['binvi'];
        }
        return -1;
      }
      if (f3 === 5) {
        if (imm === 0x287) return ZB['orc.b'];
        if (imm === 0x6b8) return ZB['rev8'];
        switch (imm >> 6) {
          case 0x18: return ZB['rori'];
          case 0x12: return ZB['bexti'];
        }
      }
      return -1;
    case 0x1b:
      if (f3 === 1) {
        switch (imm) {
          case 0x600: return ZB['clzw'];
          case 0x601: return ZB['ctzw'];
          case 0x602: return ZB['cpopw'];
        }
        return imm >> 6 === 0x02 ? ZB['slli.uw'] : -1;
      }
      if (f3 === 5 && f7 === 0x30) return ZB['roriw'];
      return -1;
  }
  return -1;
}

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;

function sext32(v: bigint): bigint {
  return BigInt.asIntN(32, v);
}

function clz64(v: bigint, bits: number): bigint {
  let n = 0;
  for (let b = bits - 1; b >= 0 && ((v >> BigInt(b)) & 1n) === 0n; b--) n++;
  return BigInt(n);
}

function ctz64(v: bigint, bits: number): bigint {
  let n = 0;
  while (n < bits && ((v >> BigInt(n)) & 1n) === 0n) n++;
  return BigInt(n);
}

function popcount(v: bigint): bigint {
  let n = 0n;
  for (let x = v; x !== 0n; x >>= 1n) n += x & 1n;
  return n;
}

/** The 128-bit carry-less product of two 64-bit values. */
function clmul128(a: bigint, b: bigint): bigint {
  let p = 0n;
  for (let i = 0n; i < 64n; i++) if (((b >> i) & 1n) !== 0n) p ^= a << i;
  return p;
}

function rotl(v: bigint, n: bigint, bits: bigint, mask: bigint): bigint {
  const s = n % bits;
  return s === 0n ? v : ((v << s) | (v >> (bits - s))) & mask;
}

/** The result of Zb* instruction `kind` (zbKind) on unsigned 64-bit operands a (rs1) and b (rs2, or the shift amount). */
export function zbEval(kind: number, a: bigint, b: bigint): bigint {
  const sh = b & 63n;
  switch (kind) {
    case ZB['sh1add']: return (a << 1n) + b;
    case ZB['sh2add']: return (a << 2n) + b;
    case ZB['sh3add']: return (a << 3n) + b;
    case ZB['add.uw']: return (a & M32) + b;
    case ZB['sh1add.uw']: return ((a & M32) << 1n) + b;
    case ZB['sh2add.uw']: return ((a & M32) << 2n) + b;
    case ZB['sh3add.uw']: return ((a & M32) << 3n) + b;
    case ZB['slli.uw']: return (a & M32) << sh;
    case ZB['andn']: return a & ~b;
    case ZB['orn']: return a | ~b;
    case ZB['xnor']: return ~(a ^ b);
    case ZB['clz']: return clz64(a, 64);
    case ZB['ctz']: return ctz64(a, 64);
    case ZB['cpop']: return popcount(a);
    case ZB['clzw']: return clz64(a & M32, 32);
    case ZB['ctzw']: return ctz64(a & M32, 32);
    case ZB['cpopw']: return popcount(a & M32);
    case ZB['max']: return BigInt.asIntN(64, a) > BigInt.asIntN(64, b) ? a : b;
    case ZB['maxu']: return a > b ? a : b;
    case ZB['min']: return BigInt.asIntN(64, a) < BigInt.asIntN(64, b) ? a : b;
    case ZB['minu']: return a < b ? a : b;
    case ZB['sext.b']: return BigInt.asIntN(8, a);
    case ZB['sext.h']: return BigInt.asIntN(16, a);
    case ZB['zext.h']: return a & 0xffffn;
    case ZB['rol']: return rotl(a, sh, 64n, M64);
    case ZB['ror']:
    case ZB['rori']: return rotl(a, (64n - sh) & 63n, 64n, M64);
    case ZB['rolw']: return sext32(rotl(a & M32, b & 31n, 32n, M32));
    case ZB['rorw']:
    case ZB['roriw']: return sext32(rotl(a & M32, (32n - (b & 31n)) & 31n, 32n, M32));
    case ZB['orc.b']: {
      let r = 0n;
      for (let i = 0n; i < 64n; i += 8n) if (((a >> i) & 0xffn) !== 0n) r |= 0xffn << i;
      return r;
    }
    case ZB['rev8']: {
      let r = 0n;
      for (let i = 0n; i < 8n; i++) r |= ((a >> (8n * i)) & 0xffn) << (8n * (7n - i));
      return r;
    }
    case ZB['clmul']: return clmul128(a, b) & M64;
    case ZB['clmulh']: return clmul128(a, b) >> 64n;
    case ZB['clmulr']: return (clmul128(a, b) >> 63n) & M64;
    case ZB['bclr']:
    case ZB['bclri']: return a & ~(1n << sh);
    case ZB['bext']:
    case ZB['bexti']: return (a >> sh) & 1n;
    case ZB['binv']:
    case ZB['binvi']: return a ^ (1n << sh);
    case ZB['bset']:
    case ZB['bseti']: return a | (1n << sh);
  }
  throw new RangeError(`zbEval: no instruction ${kind}`);
}

/**
 * Run Zb* instruction `insn` (zbKind: `kind`) on the hart's registers and step past it. The
 * loop leaves these to the JavaScript side; translated blocks call here for the carry-less
 * multiplies.
 */
export function execZb(h: Hart, insn: number, ilen: number, kind: number): void {
  const rd = (insn >> 7) & 31;
  const a = h.getX((insn >> 15) & 31);
  const form = zbForm(kind);
  const b = form === ZB_R ? h.getX((insn >> 20) & 31) : form === ZB_SHAMT ? BigInt((insn >>> 20) & 63) : 0n;
  h.setX(rd, zbEval(kind, a, b));
  h.pc += ilen;
}
