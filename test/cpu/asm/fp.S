# F and D: FS tracking, loads/stores, moves, NaN boxing, sign injection, basic arithmetic, compares, conversions, fclass.
main:
  la s0, buf
  # FS = Initial (1): an FP write makes it Dirty (3) and sets SD
  li t0, 0x2000
  csrs mstatus, t0
  li a0, 0x3f800000                 # 1.0f
  fmv.w.x fa0, a0
  csrr a1, mstatus
  srli a1, a1, 13
  andi a1, a1, 3
  CHECK a1, 3
  csrr a1, mstatus
  srli a1, a1, 63
  CHECK a1, 1
  # NaN boxing
  fmv.x.d a1, fa0
  CHECK a1, 0xffffffff3f800000
  fmv.x.w a1, fa0
  CHECK a1, 0x3f800000
  li a0, 0xbf800000                 # -1.0f: fmv.x.w sign-extends
  fmv.w.x fa1, a0
  fmv.x.w a1, fa1
  CHECK a1, 0xffffffffbf800000
  # an unboxed single reads as the canonical NaN
  li a0, 0x000000003f800000
  fmv.d.x fa2, a0
  fsgnj.s fa3, fa2, fa2
  fmv.x.w a1, fa3
  CHECK a1, 0x7fc00000
  # loads and stores
  li a0, 0x400921fb54442d18         # pi
  sd a0, 0(s0)
  fld fa4, 0(s0)
  fsd fa4, 8(s0)
  ld a1, 8(s0)
  CHECK a1, 0x400921fb54442d18
  flw fa5, 0(s0)
  fmv.x.d a1, fa5
  CHECK a1, 0xffffffff54442d18
  fsw fa5, 16(s0)
  lwu a1, 16(s0)
  CHECK a1, 0x54442d18
  # sign injection (double)
  fsgnjn.d fa6, fa4, fa4
  fmv.x.d a1, fa6
  CHECK a1, 0xc00921fb54442d18
  fsgnjx.d fa6, fa6, fa6
  fmv.x.d a1, fa6
  CHECK a1, 0x400921fb54442d18
  fsgnj.s fa6, fa0, fa1
  fmv.x.w a1, fa6
  CHECK a1, 0xffffffffbf800000
  # arithmetic
  fadd.s fa6, fa0, fa0
  fmv.x.w a1, fa6
  CHECK a1, 0x40000000
  li a0, 0x4000000000000000         # 2.0
  fmv.d.x fa7, a0
  fmul.d ft0, fa7, fa7
  fmv.x.d a1, ft0
  CHECK a1, 0x4010000000000000
  fdiv.d ft0, fa7, ft0
  fmv.x.d a1, ft0
  CHECK a1, 0x3fe0000000000000
  fsqrt.d ft1, ft0
  fmadd.d ft2, fa7, fa7, fa7
  fmv.x.d a1, ft2
  CHECK a1, 0x4018000000000000      # 6.0
  fcvt.l.d a1, ft2
  CHECK a1, 6
  li a0, -7
  fcvt.d.l ft3, a0
  fcvt.w.d a1, ft3
  CHECK a1, -7
  fcvt.wu.d a1, ft3                 # negative -> 0 with NV
  CHECK a1, 0
  csrr a1, fflags
  andi a1, a1, 0x10
  CHECK a1, 0x10
  csrw fflags, zero
  fcvt.s.d ft4, fa7
  fmv.x.w a1, ft4
  CHECK a1, 0x40000000
  fcvt.d.s ft5, ft4
  fmv.x.d a1, ft5
  CHECK a1, 0x4000000000000000
  # division by zero sets DZ
  fmv.d.x ft6, zero
  fdiv.d ft7, fa7, ft6
  csrr a1, fflags
  CHECK a1, 0x08
  fclass.d a1, ft7
  CHECK a1, 0x80                    # +inf
  fclass.d a1, ft6
  CHECK a1, 0x10                    # +0
  fclass.s a1, fa1
  CHECK a1, 0x2                     # negative normal
  # compares
  feq.d a1, fa7, fa7
  CHECK a1, 1
  flt.d a1, ft6, fa7
  CHECK a1, 1
  fle.d a1, fa7, ft6
  CHECK a1, 0
  fmin.d ft8, fa7, ft6
  fmv.x.d a1, ft8
  CHECK a1, 0
  fmax.d ft8, fa7, ft6
  fmv.x.d a1, ft8
  CHECK a1, 0x4000000000000000
  # rounding mode from frm for conversions
  li a0, 0x4004000000000000         # 2.5
  fmv.d.x ft9, a0
  fcvt.l.d a1, ft9, rne
  CHECK a1, 2
  fcvt.l.d a1, ft9, rup
  CHECK a1, 3
  fcvt.l.d a1, ft9, rmm
  CHECK a1, 3
  csrwi frm, 2                      # rdn
  fneg.d ft9, ft9
  fcvt.l.d a1, ft9
  CHECK a1, -3
  PASS
.data
.align 4
buf: .zero 64
