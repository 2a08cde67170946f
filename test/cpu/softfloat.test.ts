import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftFloat } from '../../src/cpu/riscv/softfloat.js';
import {
  refAdd,
  refConvert,
  refDiv,
  refFma,
  refFromInt,
  refMul,
  refSqrt,
  refToInt,
  type Fmt,
  type Res,
} from './softfloat-ref.js';

const NV = 0x10;
const DZ = 0x08;
const OF = 0x04;
const UF = 0x02;
const NX = 0x01;
const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const RMM = 4;
const MODES = [RNE, RTZ, RDN, RUP, RMM];

const hiOf = (b: bigint): number => Number(BigInt.asIntN(32, b >> 32n));
const loOf = (b: bigint): number => Number(BigInt.asIntN(32, b));
const join = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const hex = (b: bigint): string => '0x' + b.toString(16);

function f64bits(v: number): bigint {
  const f = new Float64Array([v]);
  return new BigUint64Array(f.buffer)[0]!;
}
function f32bits(v: number): bigint {
  const f = new Float32Array([v]);
  return BigInt(new Uint32Array(f.buffer)[0]!);
}

type Op = 'add' | 'sub' | 'mul' | 'div' | 'sqrt' | 'fmadd' | 'fmsub' | 'fnmsub' | 'fnmadd';

/** Run one operation through SoftFloat; returns result bits and flags. */
function run(op: Op, fmt: Fmt, rm: number, a: bigint, b = 0n, c = 0n): Res {
  const sf = new SoftFloat();
  let bits: bigint;
  if (fmt === 32) {
    const x = Number(BigInt.asIntN(32, a));
    const y = Number(BigInt.asIntN(32, b));
    const z = Number(BigInt.asIntN(32, c));
    let r: number;
    switch (op) {
      case 'add':
        r = sf.add32(x, y, rm);
        break;
      case 'sub':
        r = sf.sub32(x, y, rm);
        break;
      case 'mul':
        r = sf.mul32(x, y, rm);
        break;
      case 'div':
        r = sf.div32(x, y, rm);
        break;
      case 'sqrt':
        r = sf.sqrt32(x, rm);
        break;
      default:
        r = sf.fma32(x, y, z, rm, op === 'fnmsub' || op === 'fnmadd', op === 'fmsub' || op === 'fnmadd');
    }
    bits = BigInt(r >>> 0);
  } else {
    switch (op) {
      case 'add':
        sf.add64(hiOf(a), loOf(a), hiOf(b), loOf(b), rm);
        break;
      case 'sub':
        sf.sub64(hiOf(a), loOf(a), hiOf(b), loOf(b), rm);
        break;
      case 'mul':
        sf.mul64(hiOf(a), loOf(a), hiOf(b), loOf(b), rm);
        break;
      case 'div':
        sf.div64(hiOf(a), loOf(a), hiOf(b), loOf(b), rm);
        break;
      case 'sqrt':
        sf.sqrt64(hiOf(a), loOf(a), rm);
        break;
      default:
        sf.fma64(hiOf(a), loOf(a), hiOf(b), loOf(b), hiOf(c), loOf(c), rm, op === 'fnmsub' || op === 'fnmadd', op === 'fmsub' || op === 'fnmadd');
    }
    bits = join(sf.hi, sf.lo);
  }
  return { bits, flags: sf.flags };
}

function ref(op: Op, fmt: Fmt, rm: number, a: bigint, b = 0n, c = 0n): Res {
  switch (op) {
    case 'add':
      return refAdd(a, b, fmt, rm);
    case 'sub':
      return refAdd(a, b, fmt, rm, true);
    case 'mul':
      return refMul(a, b, fmt, rm);
    case 'div':
      return refDiv(a, b, fmt, rm);
    case 'sqrt':
      return refSqrt(a, fmt, rm);
    default:
      return refFma(a, b, c, fmt, rm, op === 'fnmsub' || op === 'fnmadd', op === 'fmsub' || op === 'fnmadd');
  }
}

function check(op: Op, fmt: Fmt, rm: number, a: bigint, b = 0n, c = 0n): void {
  const got = run(op, fmt, rm, a, b, c);
  const want = ref(op, fmt, rm, a, b, c);
  if (got.bits !== want.bits || got.flags !== want.flags) {
    assert.fail(
      `${op}.${fmt === 32 ? 's' : 'd'} rm=${rm} a=${hex(a)} b=${hex(b)} c=${hex(c)}: ` +
        `got ${hex(got.bits)} flags ${got.flags.toString(2)}, want ${hex(want.bits)} flags ${want.flags.toString(2)}`,
    );
  }
}

/** Expect an exact result (bits and flags). */
function expect(op: Op, fmt: Fmt, rm: number, args: bigint[], bits: bigint, flags: number): void {
  const got = run(op, fmt, rm, args[0]!, args[1] ?? 0n, args[2] ?? 0n);
  assert.equal(hex(got.bits), hex(bits), `${op}.${fmt} rm=${rm} ${args.map(hex).join(',')} result`);
  assert.equal(got.flags, flags, `${op}.${fmt} rm=${rm} ${args.map(hex).join(',')} flags`);
  // and the reference agrees with the hand-written expectation
  const r = ref(op, fmt, rm, args[0]!, args[1] ?? 0n, args[2] ?? 0n);
  assert.equal(hex(r.bits), hex(bits), `reference ${op}.${fmt} rm=${rm}`);
  assert.equal(r.flags, flags, `reference flags ${op}.${fmt} rm=${rm}`);
}

// ---------------------------------------------------------------- hand-picked cases

const D = (v: number): bigint => f64bits(v);
const S = (v: number): bigint => f32bits(v);
const D_QNAN = 0x7ff8000000000000n;
const D_SNAN = 0x7ff0000000000001n;
const D_NAN_PAYLOAD = 0xfff8000000001234n;
const S_QNAN = 0x7fc00000n;
const S_SNAN = 0x7f800001n;
const D_MAX = 0x7fefffffffffffffn;
const S_MAX = 0x7f7fffffn;
const D_MINSUB = 1n;
const S_MINSUB = 1n;
const D_MINNORM = 0x0010000000000000n;
const S_MINNORM = 0x00800000n;
const NEG64 = 1n << 63n;
const NEG32 = 1n << 31n;

test('NaN results are canonical; sNaN operands raise NV, quiet ones do not', () => {
  expect('add', 64, RNE, [D_NAN_PAYLOAD, D(1)], D_QNAN, 0);
  expect('add', 64, RNE, [D_SNAN, D(1)], D_QNAN, NV);
  expect('mul', 64, RNE, [D(2), D_SNAN], D_QNAN, NV);
  expect('add', 32, RNE, [0xffc01234n, S(1)], S_QNAN, 0);
  expect('div', 32, RNE, [S(1), S_SNAN], S_QNAN, NV);
  expect('sqrt', 32, RNE, [S_SNAN], S_QNAN, NV);
  expect('sqrt', 64, RNE, [D_NAN_PAYLOAD], D_QNAN, 0);
});

test('invalid operations: inf-inf, 0*inf, 0/0, inf/inf, sqrt(-x), fma 0*inf + qNaN', () => {
  for (const fmt of [32, 64] as const) {
    const F = fmt === 32 ? S : D;
    const Q = fmt === 32 ? S_QNAN : D_QNAN;
    expect('sub', fmt, RNE, [F(Infinity), F(Infinity)], Q, NV);
    expect('add', fmt, RNE, [F(-Infinity), F(Infinity)], Q, NV);
    expect('mul', fmt, RNE, [F(0), F(-Infinity)], Q, NV);
    expect('div', fmt, RNE, [F(0), F(-0)], Q, NV);
    expect('div', fmt, RNE, [F(Infinity), F(-Infinity)], Q, NV);
    expect('sqrt', fmt, RNE, [F(-1)], Q, NV);
    expect('sqrt', fmt, RNE, [F(-Infinity)], Q, NV);
    expect('sqrt', fmt, RNE, [F(-0)], F(-0), 0);
    expect('fmadd', fmt, RNE, [F(0), F(Infinity), Q], Q, NV);
    expect('fmadd', fmt, RNE, [F(Infinity), F(1), F(-Infinity)], Q, NV);
    expect('fmadd', fmt, RNE, [F(Infinity), F(1), F(Infinity)], F(Infinity), 0);
    expect('div', fmt, RNE, [F(1), F(-0)], F(-Infinity), DZ);
    expect('div', fmt, RNE, [F(Infinity), F(0)], F(Infinity), 0);
    expect('div', fmt, RNE, [F(1), F(Infinity)], F(0), 0);
  }
});

test('overflow: infinity or the largest finite number by rounding mode and sign', () => {
  for (const fmt of [32, 64] as const) {
    const MAX = fmt === 32 ? S_MAX : D_MAX;
    const NEG = fmt === 32 ? NEG32 : NEG64;
    const INF = fmt === 32 ? S(Infinity) : D(Infinity);
    const F = fmt === 32 ? S : D;
    const cases: [number, bigint, bigint][] = [
      [RNE, INF, INF | NEG],
      [RTZ, MAX, MAX | NEG],
      [RDN, MAX, INF | NEG],
      [RUP, INF, MAX | NEG],
      [RMM, INF, INF | NEG],
    ];
    for (const [rm, pos, neg] of cases) {
      expect('mul', fmt, rm, [MAX, F(2)], pos, OF | NX);
      expect('mul', fmt, rm, [MAX, F(-2)], neg, OF | NX);
      expect('add', fmt, rm, [MAX, MAX], pos, OF | NX);
      expect('fmadd', fmt, rm, [MAX, F(2), F(-1)], pos, OF | NX);
    }
    // Just above MAX: rounds back to MAX toward zero (inexact, no overflow).
    const ulpHalf = fmt === 32 ? S(2 ** 103) : D(2 ** 970);
    expect('add', fmt, RTZ, [MAX, ulpHalf], MAX, NX);
    expect('add', fmt, RNE, [MAX, ulpHalf], INF, OF | NX);
    expect('add', fmt, RDN, [MAX, ulpHalf], MAX, NX);
  }
});

test('underflow: tininess after rounding, subnormal results, exact subnormals raise nothing', () => {
  // exact subnormal results: no flags
  expect('mul', 64, RNE, [D(2 ** -1070), D(0.5)], D(2 ** -1071), 0);
  expect('add', 64, RNE, [D_MINSUB, D_MINSUB], 2n, 0);
  expect('mul', 32, RNE, [S(2 ** -140), S(0.5)], S(2 ** -141), 0);
  // inexact subnormal: UF|NX
  expect('mul', 64, RNE, [D(3 * 2 ** -1074), D(0.5)], 2n, UF | NX); // 1.5 ulp -> 2 (tie to even)
  expect('mul', 32, RNE, [3n, S(0.5)], 2n, UF | NX);
  expect('mul', 64, RTZ, [D_MINSUB, D(0.5)], 0n, UF | NX);
  expect('mul', 64, RUP, [D_MINSUB, D(0.5)], 1n, UF | NX);
  expect('mul', 64, RDN, [D_MINSUB | NEG64, D(0.5)], 1n | NEG64, UF | NX);
  expect('mul', 64, RNE, [D_MINSUB, D(0.25)], 0n, UF | NX);
  // a result that rounds up to the smallest normal: tiny before rounding, not after
  // (1 - 2^-54) * 2^-1022 rounds (unbounded) to 2^-1022: not tiny, NX only.
  // x = (2^53 - 1) * 2^-1075 exact in the product below: largest subnormal + half ulp.
  expect('mul', 64, RNE, [0x000fffffffffffffn, D(1 + 2 ** -52)], D_MINNORM, NX);
  expect('mul', 64, RTZ, [0x000fffffffffffffn, D(1 + 2 ** -52)], 0x000fffffffffffffn, UF | NX);
  expect('mul', 32, RNE, [0x007fffffn, S(1 + 2 ** -23)], S_MINNORM, NX);
  expect('mul', 32, RTZ, [0x007fffffn, S(1 + 2 ** -23)], 0x007fffffn, UF | NX);
  // (1 - 2^-p) * 2^emin: a tie that rounds up to the smallest normal with the
  // format's exponent range, but is exact (so tiny) with an unbounded one: UF.
  expect('mul', 32, RNE, [S(1 - 2 ** -24), S_MINNORM], S_MINNORM, UF | NX);
  expect('mul', 64, RNE, [D(1 - 2 ** -53), D_MINNORM], D_MINNORM, UF | NX);
  expect('mul', 32, RMM, [S(1 - 2 ** -24), S_MINNORM], S_MINNORM, UF | NX);
  expect('mul', 64, RUP, [D(1 - 2 ** -53), D_MINNORM], D_MINNORM, UF | NX);
});

test('ties and rounding modes on halfway cases', () => {
  // 1 + 2^-53 is exactly half an ulp above 1
  const one = D(1);
  const half = D(2 ** -53);
  expect('add', 64, RNE, [one, half], one, NX);
  expect('add', 64, RMM, [one, half], D(1 + 2 ** -52), NX);
  expect('add', 64, RUP, [one, half], D(1 + 2 ** -52), NX);
  expect('add', 64, RTZ, [one, half], one, NX);
  expect('add', 64, RDN, [one | NEG64, half | NEG64], D(-1 - 2 ** -52), NX);
  // 1 + 3*2^-53: tie between odd and even -> to even (up)
  expect('add', 64, RNE, [D(1 + 2 ** -52), half], D(1 + 2 ** -51), NX);
  expect('add', 32, RNE, [S(1), S(2 ** -24)], S(1), NX);
  expect('add', 32, RMM, [S(1), S(2 ** -24)], S(1 + 2 ** -23), NX);
  // round-to-integer conversions at .5
  const sf = new SoftFloat();
  const toInt = (v: number, rm: number): number => {
    sf.f64ToInt(hiOf(D(v)), loOf(D(v)), 2, rm);
    return Number(BigInt.asIntN(64, join(sf.hi, sf.lo)));
  };
  assert.deepEqual(
    [2.5, -2.5, 3.5, 0.5, -0.5].map((v) => MODES.map((rm) => toInt(v, rm))),
    [
      [2, 2, 2, 3, 3],
      [-2, -2, -3, -2, -3],
      [4, 3, 3, 4, 4],
      [0, 0, 0, 1, 1],
      [-0, -0, -1, -0, -1].map((x) => x + 0),
    ],
  );
});

test('signed zeros: exact zero sums are +0 except in RDN; x + x keeps the sign', () => {
  for (const fmt of [32, 64] as const) {
    const F = fmt === 32 ? S : D;
    for (const rm of MODES) {
      const z = rm === RDN ? F(-0) : F(0);
      expect('add', fmt, rm, [F(1.5), F(-1.5)], z, 0);
      expect('sub', fmt, rm, [F(1.5), F(1.5)], z, 0);
      expect('add', fmt, rm, [F(0), F(-0)], z, 0);
      expect('add', fmt, rm, [F(-0), F(-0)], F(-0), 0);
      expect('add', fmt, rm, [F(0), F(0)], F(0), 0);
      expect('fmadd', fmt, rm, [F(2), F(3), F(-6)], z, 0);
      expect('fmadd', fmt, rm, [F(-0), F(3), F(-0)], F(-0), 0);
      expect('fnmadd', fmt, rm, [F(0), F(3), F(0)], F(-0), 0);
      expect('fnmsub', fmt, rm, [F(0), F(3), F(0)], z, 0);
      expect('mul', fmt, rm, [F(-0), F(3)], F(-0), 0);
    }
  }
});

test('fused multiply-add rounds once', () => {
  // (1 + 2^-30)^2 - 1 = 2^-29 + 2^-60 exactly; a separate multiply would lose 2^-60.
  const a = D(1 + 2 ** -30);
  expect('fmsub', 64, RNE, [a, a, D(1)], D(2 ** -29 + 2 ** -60), 0);
  expect('fmadd', 32, RNE, [S(1 + 2 ** -12), S(1 + 2 ** -12), S(-1)], S(2 ** -11 + 2 ** -24), 0);
  // binary32: the exact sum is just above a tie; rounding it to double first would
  // land on the tie and round to even (down).
  expect('fmadd', 32, RNE, [S(1 + 2 ** -12), S(1 + 2 ** -12), S(2 ** -80)], S(1 + 2 ** -11 + 2 ** -23), NX);
  expect('fmadd', 32, RNE, [S(1 + 2 ** -12), S(1 + 2 ** -12), S(-(2 ** -80))], S(1 + 2 ** -11), NX);
  // 0.1 * 10 - 1 = 2^-54 exactly in binary64 (the product is not 1)
  expect('fmadd', 64, RNE, [D(0.1), D(10), D(-1)], D(2 ** -54), 0);
  expect('fnmadd', 64, RNE, [D(0.1), D(10), D(-1)], D(-(2 ** -54)), 0);
});

test('conversions: saturation, NaN and RISC-V integer results', () => {
  const sf = new SoftFloat();
  const cvt = (v: bigint, fmt: Fmt, kind: number, rm = RTZ): [bigint, number] => {
    sf.flags = 0;
    if (fmt === 32) sf.f32ToInt(Number(BigInt.asIntN(32, v)), kind, rm);
    else sf.f64ToInt(hiOf(v), loOf(v), kind, rm);
    return [join(sf.hi, sf.lo), sf.flags];
  };
  const M64 = 0xffffffffffffffffn;
  assert.deepEqual(cvt(D_QNAN, 64, 0), [0x7fffffffn, NV]);
  assert.deepEqual(cvt(D_QNAN | NEG64, 64, 0), [0x7fffffffn, NV]);
  assert.deepEqual(cvt(D_QNAN, 64, 1), [M64, NV]);
  assert.deepEqual(cvt(D_QNAN, 64, 2), [0x7fffffffffffffffn, NV]);
  assert.deepEqual(cvt(D_QNAN, 64, 3), [M64, NV]);
  assert.deepEqual(cvt(D(-Infinity), 64, 0), [0xffffffff80000000n, NV]);
  assert.deepEqual(cvt(D(-Infinity), 64, 2), [0x8000000000000000n, NV]);
  assert.deepEqual(cvt(D(-1), 64, 1), [0n, NV]);
  assert.deepEqual(cvt(D(-0.9), 64, 1), [0n, NX]); // rounds to 0: not invalid
  assert.deepEqual(cvt(D(-0.9), 64, 1, RNE), [0n, NV]);
  assert.deepEqual(cvt(D(2 ** 31), 64, 0), [0x7fffffffn, NV]);
  assert.deepEqual(cvt(D(2 ** 31 - 0.5), 64, 0), [0x7fffffffn, NX]);
  assert.deepEqual(cvt(D(-(2 ** 31) - 0.5), 64, 0), [0xffffffff80000000n, NX]);
  assert.deepEqual(cvt(D(-(2 ** 31) - 0.5), 64, 0, RDN), [0xffffffff80000000n, NV]);
  assert.deepEqual(cvt(D(4294967295), 64, 1), [M64, 0]); // wu sign-extends
  assert.deepEqual(cvt(D(2 ** 63), 64, 2), [0x7fffffffffffffffn, NV]);
  assert.deepEqual(cvt(D(2 ** 63), 64, 3), [0x8000000000000000n, 0]);
  assert.deepEqual(cvt(D(-(2 ** 63)), 64, 2), [0x8000000000000000n, 0]);
  assert.deepEqual(cvt(D(2 ** 64), 64, 3), [M64, NV]);
  assert.deepEqual(cvt(S(-3.5), 32, 2, RNE), [BigInt.asUintN(64, -4n), NX]);
  assert.deepEqual(cvt(S(Infinity), 32, 3), [M64, NV]);
  // int -> float
  sf.flags = 0;
  sf.intToF64(-1, -1, 3, RNE); // 2^64 - 1 -> 2^64
  assert.equal(join(sf.hi, sf.lo), D(2 ** 64));
  assert.equal(sf.flags, NX);
  sf.flags = 0;
  sf.intToF64(-1, -1, 3, RTZ);
  assert.equal(join(sf.hi, sf.lo), D(2 ** 64 - 2048));
  sf.flags = 0;
  assert.equal(sf.intToF32(0, 16777217, 0, RNE), Number(S(16777216)));
  assert.equal(sf.flags, NX);
  sf.flags = 0;
  assert.equal(sf.intToF32(0, -1, 1, RNE) >>> 0, Number(S(4294967296)));
  assert.equal(sf.intToF32(-1, -1, 0, RNE) >>> 0, Number(S(-1)));
  // narrowing
  sf.flags = 0;
  assert.equal(sf.f64ToF32(hiOf(D(1e300)), loOf(D(1e300)), RTZ) >>> 0, Number(S_MAX));
  assert.equal(sf.flags, OF | NX);
  sf.flags = 0;
  assert.equal(sf.f64ToF32(hiOf(D_SNAN), loOf(D_SNAN), RNE) >>> 0, Number(S_QNAN));
  assert.equal(sf.flags, NV);
  sf.flags = 0;
  sf.f32ToF64(Number(BigInt.asIntN(32, 0xff800001n)));
  assert.equal(join(sf.hi, sf.lo), D_QNAN);
  assert.equal(sf.flags, NV);
});

test('fmin/fmax (IEEE 754-2019 minimumNumber/maximumNumber), compares, fclass', () => {
  const sf = new SoftFloat();
  const i = (b: bigint): number => Number(BigInt.asIntN(32, b));
  sf.flags = 0;
  assert.equal(sf.min32(i(S_QNAN), i(S(2))), i(S(2)));
  assert.equal(sf.flags, 0);
  assert.equal(sf.max32(i(S_SNAN), i(S(2))), i(S(2)));
  assert.equal(sf.flags, NV);
  assert.equal(sf.max32(i(S_SNAN), i(S_QNAN)), i(S_QNAN));
  assert.equal(sf.min32(i(S(-0)), i(S(0))), i(S(-0)));
  assert.equal(sf.min32(i(S(0)), i(S(-0))), i(S(-0)));
  assert.equal(sf.max32(i(S(-0)), i(S(0))), i(S(0)));
  sf.min64(hiOf(D(0)), loOf(D(0)), hiOf(D(-0)), loOf(D(-0)));
  assert.equal(join(sf.hi, sf.lo), D(-0));
  sf.max64(hiOf(D(-0)), loOf(D(-0)), hiOf(D(0)), loOf(D(0)));
  assert.equal(join(sf.hi, sf.lo), D(0));
  sf.flags = 0;
  sf.max64(hiOf(D_NAN_PAYLOAD), loOf(D_NAN_PAYLOAD), hiOf(D_SNAN), loOf(D_SNAN));
  assert.equal(join(sf.hi, sf.lo), D_QNAN);
  assert.equal(sf.flags, NV);
  // compares
  sf.flags = 0;
  assert.equal(sf.eq64(hiOf(D_QNAN), 0, hiOf(D_QNAN), 0), 0);
  assert.equal(sf.flags, 0);
  assert.equal(sf.lt64(hiOf(D_QNAN), 0, 0, 0), 0);
  assert.equal(sf.flags, NV);
  sf.flags = 0;
  assert.equal(sf.eq32(i(S_SNAN), 0), 0);
  assert.equal(sf.flags, NV);
  sf.flags = 0;
  assert.equal(sf.le32(i(S(-0)), i(S(0))), 1);
  assert.equal(sf.eq32(i(S(-0)), i(S(0))), 1);
  assert.equal(sf.lt32(i(S(-0)), i(S(0))), 0);
  assert.equal(sf.flags, 0);
  // fclass
  const c64 = (b: bigint): number => sf.class64(hiOf(b), loOf(b));
  assert.deepEqual(
    [D(-Infinity), D(-1), D_MINSUB | NEG64, D(-0), D(0), D_MINSUB, D(1), D(Infinity), D_SNAN, D_QNAN].map(c64),
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
  );
  const c32 = (b: bigint): number => sf.class32(i(b));
  assert.deepEqual(
    [S(-Infinity), S(-1), S_MINSUB | NEG32, S(-0), S(0), S_MINSUB, S(1), S(Infinity), S_SNAN, S_QNAN].map(c32),
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
  );
});

// ---------------------------------------------------------------- random cross-checks

/** xorshift128+: deterministic operands. */
class Rng {
  private s0 = 0x12345678abcdefn;
  private s1 = 0x0fedcba987654321n;
  next64(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x = BigInt.asUintN(64, x ^ (x << 23n));
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return BigInt.asUintN(64, this.s1 + y);
  }
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }
}

/** Operand bits biased towards the interesting: exponent edges, short significands, specials. */
function operand(rng: Rng, fmt: Fmt, near?: bigint): bigint {
  const p = fmt === 32 ? 24 : 53;
  const ebits = fmt === 32 ? 8 : 11;
  const emaxField = (1 << ebits) - 1;
  const sign = BigInt(rng.int(2)) << BigInt(p - 1 + ebits);
  const mbits = BigInt(p - 1);
  const pick = rng.int(20);
  if (pick === 0) return sign | (BigInt(emaxField) << mbits); // inf
  if (pick === 1) return sign | (BigInt(emaxField) << mbits) | BigInt(1 + rng.int(7)) << (mbits - BigInt(1 + rng.int(2))); // NaNs
  if (pick === 2) return sign; // zero
  let m = rng.next64() & ((1n << mbits) - 1n);
  if (rng.int(3) === 0) m &= ~((1n << BigInt(rng.int(p - 1))) - 1n); // short significands: exact results, ties
  if (rng.int(4) === 0) m |= (1n << BigInt(rng.int(p - 1))) - 1n; // runs of ones: carries
  let e: number;
  const w = rng.int(10);
  if (near !== undefined && w < 5) {
    const ne = Number((near >> mbits) & BigInt(emaxField));
    e = Math.min(emaxField - 1, Math.max(0, ne + rng.int(2 * p + 6) - p - 3));
  } else if (w === 0) e = 0; // subnormal
  else if (w === 1) e = 1 + rng.int(3);
  else if (w === 2) e = emaxField - 1 - rng.int(3);
  else e = rng.int(emaxField);
  return sign | (BigInt(e) << mbits) | m;
}

const OPS: Op[] = ['add', 'sub', 'mul', 'div', 'sqrt', 'fmadd', 'fmsub', 'fnmsub', 'fnmadd'];

for (const fmt of [32, 64] as const) {
  test(`random binary${fmt} arithmetic agrees with the rational reference in every rounding mode`, () => {
    const rng = new Rng();
    for (const op of OPS) {
      for (let i = 0; i < 1200; i++) {
        const rm = MODES[i % 5]!;
        const a = operand(rng, fmt);
        const b = operand(rng, fmt, a);
        let c = operand(rng, fmt, a);
        if (op.startsWith('f') && rng.int(3) === 0) {
          // addend close to -a*b: cancellation
          const r = run('mul', fmt, rng.int(5), a, b);
          c = r.bits ^ (fmt === 32 ? NEG32 : NEG64);
        }
        check(op, fmt, rm, a, b, c);
      }
    }
  });
}

test('random conversions agree with the reference', () => {
  const rng = new Rng();
  const sf = new SoftFloat();
  for (let i = 0; i < 6000; i++) {
    const rm = MODES[i % 5]!;
    const kind = rng.int(4);
    for (const fmt of [32, 64] as const) {
      // float -> int, values around the integer ranges
      let a = operand(rng, fmt);
      if (rng.int(2) === 0) {
        const v = (rng.int(2) ? -1 : 1) * (rng.int(2 ** 20) / 2 ** rng.int(8) + (rng.int(3) === 0 ? 2 ** (28 + rng.int(38)) : 0));
        a = fmt === 32 ? S(v) : D(v);
      }
      sf.flags = 0;
      if (fmt === 32) sf.f32ToInt(Number(BigInt.asIntN(32, a)), kind, rm);
      else sf.f64ToInt(hiOf(a), loOf(a), kind, rm);
      const want = refToInt(a, fmt, kind, rm);
      assert.equal(hex(join(sf.hi, sf.lo)), hex(want.bits), `fcvt kind ${kind} from ${fmt} ${hex(a)} rm ${rm}`);
      assert.equal(sf.flags, want.flags, `fcvt flags kind ${kind} from ${fmt} ${hex(a)} rm ${rm}`);
      // int -> float
      let x = rng.next64();
      if (rng.int(2) === 0) x >>= BigInt(rng.int(64));
      if (rng.int(4) === 0) x = BigInt.asUintN(64, -x);
      sf.flags = 0;
      let got: bigint;
      if (fmt === 32) got = BigInt(sf.intToF32(hiOf(x), loOf(x), kind, rm) >>> 0);
      else {
        sf.intToF64(hiOf(x), loOf(x), kind, rm);
        got = join(sf.hi, sf.lo);
      }
      const w2 = refFromInt(x, fmt, kind, rm);
      assert.equal(hex(got), hex(w2.bits), `fcvt.${fmt} from kind ${kind} ${hex(x)} rm ${rm}`);
      assert.equal(sf.flags, w2.flags, `fcvt.${fmt} flags from kind ${kind} ${hex(x)} rm ${rm}`);
    }
    // double -> single, single -> double
    const d = operand(rng, 64, rng.int(2) ? 0x3800000000000000n : 0x47e0000000000000n);
    sf.flags = 0;
    const s = BigInt(sf.f64ToF32(hiOf(d), loOf(d), rm) >>> 0);
    const w3 = refConvert(d, 64, 32, rm);
    assert.equal(hex(s), hex(w3.bits), `fcvt.s.d ${hex(d)} rm ${rm}`);
    assert.equal(sf.flags, w3.flags, `fcvt.s.d flags ${hex(d)} rm ${rm}`);
    const f = operand(rng, 32);
    sf.flags = 0;
    sf.f32ToF64(Number(BigInt.asIntN(32, f)));
    const w4 = refConvert(f, 32, 64, rm);
    assert.equal(hex(join(sf.hi, sf.lo)), hex(w4.bits), `fcvt.d.s ${hex(f)}`);
    assert.equal(sf.flags, w4.flags);
  }
});

test('RNE binary64 results equal the host double arithmetic; binary32 equal Math.fround of it', () => {
  const rng = new Rng();
  const f = new Float64Array(1);
  const u = new BigUint64Array(f.buffer);
  const val = (b: bigint): number => {
    u[0] = b;
    return f[0]!;
  };
  for (let i = 0; i < 20000; i++) {
    const a = operand(rng, 64);
    const b = operand(rng, 64, a);
    const va = val(a);
    const vb = val(b);
    const natives: [Op, number][] = [
      ['add', va + vb],
      ['mul', va * vb],
      ['div', va / vb],
      ['sqrt', Math.sqrt(va)],
    ];
    for (const [op, r] of natives) {
      const got = run(op, 64, RNE, a, b);
      if (r !== r) assert.equal(hex(got.bits), hex(D_QNAN));
      else assert.equal(hex(got.bits), hex(D(r)), `${op} ${hex(a)} ${hex(b)}`);
    }
  }
});
