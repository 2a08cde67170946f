// The hart's F and D instructions give IEEE-exact results, flags and rounding
// modes (SoftFloat underneath): guest programs assembled with Debian's binutils.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, describe, makeMachine, runGuest } from './guest.js';

function runProgram(src: string): void {
  const m = makeMachine(assemble(src));
  const code = runGuest(m);
  assert.equal(describe(code, m), 'pass');
}

/** Load a 64-bit pattern into an FP register through an integer one. */
const FD = (f: string, bits: string): string => `  li t0, ${bits}\n  fmv.d.x ${f}, t0\n`;
const FLAGS = (want: number): string => `  csrrw a1, fflags, zero\n  CHECK a1, ${want}\n`;
const XD = (f: string, want: string): string => `  fmv.x.d a1, ${f}\n  CHECK a1, ${want}\n`;

test('rounding modes (static and dynamic) and inexact on 1 + 2^-53', () => {
  runProgram(`
main:
  li t0, 0x2000
  csrs mstatus, t0
${FD('f1', '0x3ff0000000000000')}${FD('f2', '0x3ca0000000000000')}
  csrw fflags, zero
  fadd.d f3, f1, f2, rne
${XD('f3', '0x3ff0000000000000')}${FLAGS(1)}
  fadd.d f3, f1, f2, rup
${XD('f3', '0x3ff0000000000001')}${FLAGS(1)}
  fadd.d f3, f1, f2, rmm
${XD('f3', '0x3ff0000000000001')}
  fadd.d f3, f1, f2, rtz
${XD('f3', '0x3ff0000000000000')}
  fsub.d f3, f1, f2, rdn
${XD('f3', '0x3fefffffffffffff')}
  csrwi frm, 3
  fadd.d f3, f1, f2
${XD('f3', '0x3ff0000000000001')}
  csrwi frm, 1
  fsub.d f3, f1, f2
${XD('f3', '0x3fefffffffffffff')}
  csrr a1, fcsr
  CHECK a1, 0x21
  csrwi frm, 0
  PASS
`);
});

test('a reserved dynamic rounding mode makes arithmetic an illegal instruction', () => {
  runProgram(`
main:
  li t0, 0x2000
  csrs mstatus, t0
  la t0, handler
  csrw mtvec, t0
  li s1, 0
  csrwi frm, 5
  fadd.d f3, f1, f2
  CHECK s1, 2
  li s1, 0
  fadd.d f3, f1, f2, rne
  CHECK s1, 0
  PASS
.align 2
handler:
  csrr s1, mcause
  csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
  mret
`);
});

test('fused multiply-add rounds once; invalid, divide-by-zero, overflow and underflow flags', () => {
  runProgram(`
main:
  li t0, 0x2000
  csrs mstatus, t0
  csrw fflags, zero
${FD('f1', '0x3fb999999999999a')}${FD('f2', '0x4024000000000000')}${FD('f3', '0xbff0000000000000')}
  fmadd.d f4, f1, f2, f3
${XD('f4', '0x3c90000000000000')}${FLAGS(0)}
  fmul.d f5, f1, f2
  fadd.d f5, f5, f3
${XD('f5', '0')}${FLAGS(1)}
  fsqrt.d f4, f3
${XD('f4', '0x7ff8000000000000')}${FLAGS(0x10)}
  fmv.d.x f6, zero
  fdiv.d f4, f2, f6
${XD('f4', '0x7ff0000000000000')}${FLAGS(8)}
${FD('f7', '0x7fefffffffffffff')}
  fmul.d f4, f7, f2, rtz
${XD('f4', '0x7fefffffffffffff')}${FLAGS(5)}
  fmul.d f4, f7, f2
${XD('f4', '0x7ff0000000000000')}${FLAGS(5)}
${FD('f8', '0x0000000000000001')}${FD('f9', '0x3fe0000000000000')}
  fmul.d f4, f8, f9
${XD('f4', '0')}${FLAGS(3)}
  fmul.d f4, f8, f9, rup
${XD('f4', '1')}${FLAGS(3)}
  # binary32: 16777217 does not fit 24 bits
  li t0, 16777217
  fcvt.s.w f4, t0
  fmv.x.w a1, f4
  CHECK a1, 0x4b800000
${FLAGS(1)}
  fcvt.s.w f4, t0, rup
  fmv.x.w a1, f4
  CHECK a1, 0x4b800001
  fcvt.s.d f4, f7, rtz
  fmv.x.w a1, f4
  CHECK a1, 0x7f7fffff
${FLAGS(5)}
  PASS
`);
});

test('conversions saturate; NaN-boxing and canonical NaNs; fmin/fmax; fclass', () => {
  runProgram(`
main:
  li t0, 0x2000
  csrs mstatus, t0
  csrw fflags, zero
${FD('f1', '0x7ff4000000000000')}
  fcvt.w.d a1, f1
  CHECK a1, 0x7fffffff
${FLAGS(0x10)}
${FD('f2', '0xbff0000000000000')}
  fcvt.lu.d a1, f2
  CHECK a1, 0
${FLAGS(0x10)}
${FD('f3', '0x41f0000000000000')}
  fcvt.wu.d a1, f3
  CHECK a1, -1
${FLAGS(0x10)}
${FD('f4', '0xc000000000000000')}
  fcvt.w.d a1, f4, rtz
  CHECK a1, -2
${FD('f4', '0xc004000000000000')}
  fcvt.l.d a1, f4, rne
  CHECK a1, -2
${FLAGS(1)}
  fcvt.l.d a1, f4, rmm
  CHECK a1, -3
${FLAGS(1)}
  # a single not NaN-boxed reads as the canonical NaN
${FD('f5', '0x000000003f800000')}
  fadd.s f6, f5, f5
${XD('f6', '0xffffffff7fc00000')}${FLAGS(0)}
  # fmin with a signalling NaN returns the other operand and raises NV
${FD('f7', '0x3ff0000000000000')}
  fmin.d f6, f1, f7
${XD('f6', '0x3ff0000000000000')}${FLAGS(0x10)}
  fmax.d f6, f1, f1
${XD('f6', '0x7ff8000000000000')}${FLAGS(0x10)}
  fmv.d.x f8, zero
  fneg.d f9, f8
  fmin.d f6, f8, f9
${XD('f6', '0x8000000000000000')}
  fmax.d f6, f9, f8
${XD('f6', '0')}
  fclass.d a1, f1
  CHECK a1, 0x100
  fclass.d a1, f9
  CHECK a1, 0x8
  flt.d a1, f1, f7
  CHECK a1, 0
${FLAGS(0x10)}
  feq.d a1, f6, f6
  CHECK a1, 1
${FLAGS(0)}
  PASS
`);
});
