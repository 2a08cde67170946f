/**
 * The bit-manipulation extensions Zba, Zbb, Zbc and Zbs (ratified 1.0.0), as QEMU 7.2's rv64
 * CPU has them: their decoding, shared by the hart, the translator (jit/bitmanip-ops.ts
 * writes them inline) and the disassembler, and their semantics for the JavaScript side, which
 * runs them when the interpreter loop leaves them to it (the loop executes only the base
 * encodings of its opcodes).
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

const R = 0xfe00707f; // funct7, funct3, opcode
const UNARY = 0xfff0707f; // imm[11:0], funct3, opcode
const SHAMT = 0xfc00707f; // imm[11:6], funct3, opcode
const r = (f7: number, f3: number, op: number): number => ((f7 << 25) | (f3 << 12) | op) >>> 0;
const unary = (imm: number, f3: number, op: number): number => ((imm << 20) | (f3 << 12) | op) >>> 0;
const shamt = (top: number, f3: number, op: number): number => ((top << 26) | (f3 << 12) | op) >>> 0;

/**
 * Each instruction's encoding as [kind, mask, match] (an instruction word w is `kind` when
 * (w & mask) === match; no two overlap): the one table the hart, the translator and the
 * disassembler decode from.
 */
export const ZB_ENCODINGS: readonly (readonly [number, number, number])[] = [
  [ZB['sh1add'], R, r(0x10, 2, 0x33)], [ZB['sh2add'], R, r(0x10, 4, 0x33)], [ZB['sh3add'], R, r(0x10, 6, 0x33)],
  [ZB['add.uw'], R, r(0x04, 0, 0x3b)], [ZB['sh1add.uw'], R, r(0x10, 2, 0x3b)], [ZB['sh2add.uw'], R, r(0x10, 4, 0x3b)],
  [ZB['sh3add.uw'], R, r(0x10, 6, 0x3b)], [ZB['slli.uw'], SHAMT, shamt(0x02, 1, 0x1b)],
  [ZB['andn'], R, r(0x20, 7, 0x33)], [ZB['orn'], R, r(0x20, 6, 0x33)], [ZB['xnor'], R, r(0x20, 4, 0x33)],
  [ZB['clz'], UNARY, unary(0x600, 1, 0x13)], [ZB['ctz'], UNARY, unary(0x601, 1, 0x13)], [ZB['cpop'], UNARY, unary(0x602, 1, 0x13)],
  [ZB['clzw'], UNARY, unary(0x600, 1, 0x1b)], [ZB['ctzw'], UNARY, unary(0x601, 1, 0x1b)], [ZB['cpopw'], UNARY, unary(0x602, 1, 0x1b)],
  [ZB['max'], R, r(0x05, 6, 0x33)], [ZB['maxu'], R, r(0x05, 7, 0x33)], [ZB['min'], R, r(0x05, 4, 0x33)], [ZB['minu'], R, r(0x05, 5, 0x33)],
  [ZB['sext.b'], UNARY, unary(0x604, 1, 0x13)], [ZB['sext.h'], UNARY, unary(0x605, 1, 0x13)], [ZB['zext.h'], UNARY, unary(0x080, 4, 0x3b)],
  [ZB['rol'], R, r(0x30, 1, 0x33)], [ZB['ror'], R, r(0x30, 5, 0x33)], [ZB['rori'], SHAMT, shamt(0x18, 5, 0x13)],
  [ZB['rolw'], R, r(0x30, 1, 0x3b)], [ZB['rorw'], R, r(0x30, 5, 0x3b)], [ZB['roriw'], R, r(0x30, 5, 0x1b)],
  [ZB['orc.b'], UNARY, unary(0x287, 5, 0x13)], [ZB['rev8'], UNARY, unary(0x6b8, 5, 0x13)],
  [ZB['clmul'], R, r(0x05, 1, 0x33)], [ZB['clmulh'], R, r(0x05, 3, 0x33)], [ZB['clmulr'], R, r(0x05, 2, 0x33)],
  [ZB['bclr'], R, r(0x24, 1, 0x33)], [ZB['bclri'], SHAMT, shamt(0x12, 1, 0x13)], [ZB['bext'], R, r(0x24, 5, 0x33)],
  [ZB['bexti'], SHAMT, shamt(0x12, 5, 0x13)], [ZB['binv'], R, r(0x34, 1, 0x33)], [ZB['binvi'], SHAMT, shamt(0x1a, 1, 0x13)],
  [ZB['bset'], R, r(0x14, 1, 0x33)], [ZB['bseti'], SHAMT, shamt(0x0a, 1, 0x13)],
];

/** ZB_ENCODINGS flat: kind, mask, match. */
const ZB_TABLE: readonly number[] = ZB_ENCODINGS.flat();

/** Which Zba/Zbb/Zbc/Zbs instruction the 32-bit `insn` is, or -1. */
export function zbKind(insn: number): number {
  // Only OP-IMM, OP-IMM-32, OP and OP-32 (0x13, 0x1b, 0x33, 0x3b) have such encodings; their
  // common base encodings next (the translator asks for every instruction of these opcodes).
  if ((insn & 0x57) !== 0x13) return -1;
  const op = insn & 0x7f;
  const f3 = (insn >> 12) & 7;
  if (op === 0x13 || op === 0x1b) {
    if (f3 !== 1 && f3 !== 5) return -1;
    // The base shifts: slli/srli/srai (imm[11:6] 0 or 0x10, slli only 0), their W forms (funct7 0 or 0x20).
    const top = op === 0x13 ? insn >>> 26 : insn >>> 25;
    if (top === 0 || (f3 === 5 && top === (op === 0x13 ? 0x10 : 0x20))) return -1;
  } else if (insn >>> 25 <= 1) return -1;
  // An indexed loop: this runs while the region tier writes code from cold JavaScript, where a
  // destructuring for-of allocated an iterator per entry.
  const t = ZB_TABLE;
  for (let k = 0; k < t.length; k += 3) if (((insn & t[k + 1]!) >>> 0) === t[k + 2]!) return t[k]!;
  return -1;
}

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;

function sext32(v: bigint): bigint {
  return BigInt.asIntN(32, v);
}

/** Leading zeros of the low `bits` bits of v. */
function clz(v: bigint, bits: number): bigint {
  let n = 0;
  for (let b = bits - 1; b >= 0 && ((v >> BigInt(b)) & 1n) === 0n; b--) n++;
  return BigInt(n);
}

/** Trailing zeros of the low `bits` bits of v (`bits` when they are all 0). */
function ctz(v: bigint, bits: number): bigint {
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
    case ZB['clz']: return clz(a, 64);
    case ZB['ctz']: return ctz(a, 64);
    case ZB['cpop']: return popcount(a);
    case ZB['clzw']: return clz(a, 32);
    case ZB['ctzw']: return ctz(a, 32);
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

/** Run Zb* instruction `insn` (zbKind: `kind`) on the hart's registers and step past it. */
export function execZb(h: Hart, insn: number, ilen: number, kind: number): void {
  const rd = (insn >> 7) & 31;
  const a = h.getX((insn >> 15) & 31);
  const form = zbForm(kind);
  const b = form === ZB_R ? h.getX((insn >> 20) & 31) : form === ZB_SHAMT ? BigInt((insn >>> 20) & 63) : 0n;
  h.setX(rd, zbEval(kind, a, b));
  h.pc += ilen;
}
