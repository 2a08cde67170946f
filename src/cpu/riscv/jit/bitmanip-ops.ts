/**
 * Zba, Zbb, Zbc and Zbs in translated blocks (block-emitter.ts): each instruction as a few wasm
 * operations on its operands, the carry-less multiplies as a loop over the multiplier's bits.
 * Interpreted, they run on the JavaScript side (bitmanip.ts).
 */
import { ZB } from '../bitmanip.js';
import { Op, T_VOID, type Bytes } from './wasm-writer.js';

/** Scratch locals of the carry-less multiplies: two i64 and an i32. */
export interface ZbScratch {
  readonly lo: number;
  readonly hi: number;
  readonly i: number;
}

const BYTES_7F = 0x7f7f7f7f7f7f7f7fn;
const BYTES_80 = 0x8080808080808080n;
const PAIRS_8 = 0x00ff00ff00ff00ffn;
const PAIRS_16 = 0x0000ffff0000ffffn;

/**
 * Push the i64 result of Zb* instruction `insn` (bitmanip.ts: zbKind gives `kind`): rs1's value
 * in i64 local `a`, rs2's in `b` for the register forms (a scratch i64 local otherwise).
 */
export function emitZb(c: Bytes, kind: number, insn: number, a: number, b: number, s: ZbScratch): void {
  const sh = (insn >>> 20) & 63;
  const uw = (): void => void c.get(a).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_u);
  const bit = (): void => void c.i64(1).get(b).op(Op.i64_shl);
  switch (kind) {
    case ZB['sh1add']:
    case ZB['sh2add']:
    case ZB['sh3add']:
      c.get(a).i64(kind - ZB['sh1add'] + 1).op(Op.i64_shl).get(b).op(Op.i64_add);
      return;
    case ZB['add.uw']:
      uw();
      c.get(b).op(Op.i64_add);
      return;
    case ZB['sh1add.uw']:
    case ZB['sh2add.uw']:
    case ZB['sh3add.uw']:
      uw();
      c.i64(kind - ZB['sh1add.uw'] + 1).op(Op.i64_shl).get(b).op(Op.i64_add);
      return;
    case ZB['slli.uw']:
      uw();
      c.i64(sh).op(Op.i64_shl);
      return;
    case ZB['andn']:
      c.get(a).get(b).i64(-1).op(Op.i64_xor).op(Op.i64_and);
      return;
    case ZB['orn']:
      c.get(a).get(b).i64(-1).op(Op.i64_xor).op(Op.i64_or);
      return;
    case ZB['xnor']:
      c.get(a).get(b).op(Op.i64_xor).i64(-1).op(Op.i64_xor);
      return;
    case ZB['clz']:
      c.get(a).op(Op.i64_clz);
      return;
    case ZB['ctz']:
      c.get(a).op(Op.i64_ctz);
      return;
    case ZB['cpop']:
      c.get(a).op(Op.i64_popcnt);
      return;
    case ZB['clzw']:
    case ZB['ctzw']:
    case ZB['cpopw']: {
      const op = kind === ZB['clzw'] ? Op.i32_clz : kind === ZB['ctzw'] ? Op.i32_ctz : Op.i32_popcnt;
      c.get(a).op(Op.i32_wrap_i64).op(op).op(Op.i64_extend_i32_u);
      return;
    }
    case ZB['max']:
    case ZB['maxu']:
    case ZB['min']:
    case ZB['minu']: {
      const cmp = kind === ZB['max'] ? Op.i64_gt_s : kind === ZB['maxu'] ? Op.i64_gt_u : kind === ZB['min'] ? Op.i64_lt_s : Op.i64_lt_u;
      c.get(a).get(b).get(a).get(b).op(cmp).op(Op.select);
      return;
    }
    case ZB['sext.b']:
      c.get(a).op(Op.i64_extend8_s);
      return;
    case ZB['sext.h']:
      c.get(a).op(Op.i64_extend16_s);
      return;
    case ZB['zext.h']:
      c.get(a).i64(0xffff).op(Op.i64_and);
      return;
    case ZB['rol']:
      c.get(a).get(b).op(Op.i64_rotl);
      return;
    case ZB['ror']:
      c.get(a).get(b).op(Op.i64_rotr);
      return;
    case ZB['rori']:
      c.get(a).i64(sh).op(Op.i64_rotr);
      return;
    case ZB['rolw']:
    case ZB['rorw']:
      c.get(a).op(Op.i32_wrap_i64).get(b).op(Op.i32_wrap_i64).op(kind === ZB['rolw'] ? Op.i32_rotl : Op.i32_rotr).op(Op.i64_extend_i32_s);
      return;
    case ZB['roriw']:
      c.get(a).op(Op.i32_wrap_i64).i32(sh & 31).op(Op.i32_rotr).op(Op.i64_extend_i32_s);
      return;
    case ZB['orc.b']:
      // Per byte: (b & 0x7f) + 0x7f carries into bit 7 unless b & 0x7f is 0 (and never past
      // it); OR-ing b in sets bit 7 for every nonzero byte; that bit times 0xff fills the byte.
      c.get(a).i64n(BYTES_7F).op(Op.i64_and).i64n(BYTES_7F).op(Op.i64_add).get(a).op(Op.i64_or);
      c.i64n(BYTES_80).op(Op.i64_and).i64(7).op(Op.i64_shr_u).i64(0xff).op(Op.i64_mul);
      return;
    case ZB['rev8']:
      // Swap the bytes of each halfword, the halfwords of each word, then the words.
      c.get(a).i64(8).op(Op.i64_shr_u).i64n(PAIRS_8).op(Op.i64_and).get(a).i64n(PAIRS_8).op(Op.i64_and).i64(8).op(Op.i64_shl).op(Op.i64_or).set(b);
      c.get(b).i64(16).op(Op.i64_shr_u).i64n(PAIRS_16).op(Op.i64_and).get(b).i64n(PAIRS_16).op(Op.i64_and).i64(16).op(Op.i64_shl).op(Op.i64_or);
      c.i64(32).op(Op.i64_rotl);
      return;
    case ZB['clmul']:
    case ZB['clmulh']:
    case ZB['clmulr']:
      clmul(c, a, b, s);
      if (kind === ZB['clmul']) c.get(s.lo);
      else if (kind === ZB['clmulh']) c.get(s.hi);
      else c.get(s.lo).i64(63).op(Op.i64_shr_u).get(s.hi).i64(1).op(Op.i64_shl).op(Op.i64_or);
      return;
    case ZB['bclr']:
      c.get(a);
      bit();
      c.i64(-1).op(Op.i64_xor).op(Op.i64_and);
      return;
    case ZB['bset']:
      c.get(a);
      bit();
      c.op(Op.i64_or);
      return;
    case ZB['binv']:
      c.get(a);
      bit();
      c.op(Op.i64_xor);
      return;
    case ZB['bext']:
      c.get(a).get(b).op(Op.i64_shr_u).i64(1).op(Op.i64_and);
      return;
    case ZB['bclri']:
      c.get(a).i64n(~(1n << BigInt(sh))).op(Op.i64_and);
      return;
    case ZB['bseti']:
      c.get(a).i64n(1n << BigInt(sh)).op(Op.i64_or);
      return;
    case ZB['binvi']:
      c.get(a).i64n(1n << BigInt(sh)).op(Op.i64_xor);
      return;
    case ZB['bexti']:
      c.get(a).i64(sh).op(Op.i64_shr_u).i64(1).op(Op.i64_and);
      return;
  }
  throw new RangeError(`emitZb: no inline form for ${kind}`);
}

/**
 * The 128-bit carry-less product of locals a and b into s.lo and s.hi: for each bit i of b,
 * without a branch, lo ^= (a << i) & m and hi ^= ((a >>> 1) >>> (63 - i)) & m, m all ones
 * when the bit is set (the high part as two shifts: one by 64 - i would be one by 0 at i = 0).
 */
function clmul(c: Bytes, a: number, b: number, s: ZbScratch): void {
  c.i64(0).set(s.lo).i64(0).set(s.hi).i32(0).set(s.i);
  c.op(Op.loop).byte(T_VOID);
  // m = 0 - ((b >>> i) & 1), computed for each half (there is no spare local to keep it).
  const mask = (): void => void c.i64(0).get(b).get(s.i).op(Op.i64_extend_i32_u).op(Op.i64_shr_u).i64(1).op(Op.i64_and).op(Op.i64_sub);
  c.get(s.lo).get(a).get(s.i).op(Op.i64_extend_i32_u).op(Op.i64_shl);
  mask();
  c.op(Op.i64_and).op(Op.i64_xor).set(s.lo);
  c.get(s.hi).get(a).i64(1).op(Op.i64_shr_u).i64(63).get(s.i).op(Op.i64_extend_i32_u).op(Op.i64_sub).op(Op.i64_shr_u);
  mask();
  c.op(Op.i64_and).op(Op.i64_xor).set(s.hi);
  c.get(s.i).i32(1).op(Op.i32_add).tee(s.i).i32(64).op(Op.i32_lt_u).op(Op.br_if).uleb(0);
  c.op(Op.end);
}
