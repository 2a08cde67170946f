# CSR side effects and absent CSRs (illegal instruction with the instruction bits in mtval).
.macro EXPECT_ILLEGAL insn
  la t0, 9f
  csrw mtvec, t0
.option push
.option norvc
8:\insn
.option pop
  j fail
.align 2
9:csrr t1, mcause
  CHECK t1, 2
  csrr t1, mepc
  la t2, 8b
  addi gp, gp, 1
  bne t1, t2, fail
  lw t2, 0(t2)
  csrr t1, mtval
  slli t2, t2, 32
  srli t2, t2, 32
  addi gp, gp, 1
  bne t1, t2, fail
.endm
main:
  csrr a0, misa
  CHECK a0, 0x800000000014112d
  csrr a0, mvendorid
  CHECK a0, 0
  csrr a0, marchid
  CHECK a0, 0
  csrr a0, mimpid
  CHECK a0, 0
  csrr a0, mhartid
  CHECK a0, 0
  csrr a0, mstatus
  CHECK a0, 0x0000000a00000000
  # FS dirty sets SD
  li a0, 0x6000
  csrs mstatus, a0
  csrr a0, mstatus
  CHECK a0, 0x8000000a00006000
  csrr a0, sstatus
  CHECK a0, 0x8000000200006000
  # read-only UXL/SXL and writable fields
  li a0, -1
  csrw mstatus, a0
  csrr a0, mstatus
  CHECK a0, 0x8000000a007e79aa
  csrw mstatus, zero
  # MPP = 2 (reserved) is not stored
  li a0, 0x1000
  csrw mstatus, a0
  csrr a0, mstatus
  CHECK a0, 0x0000000a00000000
  # csrrw/csrrs/csrrc return the old value
  li a0, 0x55
  csrw mscratch, a0
  li a1, 0x0f
  csrrs a2, mscratch, a1
  CHECK a2, 0x55
  csrrc a2, mscratch, a1
  CHECK a2, 0x5f
  csrrwi a2, mscratch, 7
  CHECK a2, 0x50
  csrrsi a2, mscratch, 8
  CHECK a2, 7
  csrrci a2, mscratch, 1
  CHECK a2, 0xf
  csrr a2, mscratch
  CHECK a2, 0xe
  # WARL masks
  li a0, -1
  csrw medeleg, a0
  csrr a1, medeleg
  CHECK a1, 0xb3ff
  csrw mideleg, a0
  csrr a1, mideleg
  CHECK a1, 0x222
  csrw mie, a0
  csrr a1, mie
  CHECK a1, 0xaaa
  csrr a1, sie
  CHECK a1, 0x222
  csrw sie, zero
  csrr a1, mie
  CHECK a1, 0x888
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  # mtvec: modes >= 2 are ignored; mepc bit 0 is cleared
  li a0, 0x80001001
  csrw mtvec, a0
  csrr a1, mtvec
  CHECK a1, 0x80001001
  li a0, 0x80002002
  csrw mtvec, a0
  csrr a1, mtvec
  CHECK a1, 0x80001001
  la a0, unexpected_trap
  csrw mtvec, a0
  li a0, 0x1235
  csrw mepc, a0
  csrr a1, mepc
  CHECK a1, 0x1234
  # mip: only SSIP, STIP, SEIP are writable from software
  li a0, -1
  csrw mip, a0
  csrr a1, mip
  CHECK a1, 0x222
  csrw mip, zero
  # menvcfg: FIOM and STCE
  li a0, -1
  csrw menvcfg, a0
  csrr a1, menvcfg
  CHECK a1, 0x8000000000000001
  csrw menvcfg, zero
  # satp: unsupported modes leave it unchanged; Sv39 and Sv48 stick
  li a0, 0x8000000000012345
  csrw satp, a0
  csrr a1, satp
  CHECK a1, 0x8000000000012345
  li a0, 0xa000000000000001   # Sv57: unsupported
  csrw satp, a0
  csrr a1, satp
  CHECK a1, 0x8000000000012345
  li a0, 0x9000000000000001
  csrw satp, a0
  csrr a1, satp
  CHECK a1, 0x9000000000000001
  csrw satp, zero
  # counters
  csrr a0, minstret
  csrr a1, minstret
  sub a2, a1, a0
  CHECK a2, 1
  li a0, 1000
  csrw minstret, a0
  csrr a1, minstret
  CHECK a1, 1000
  csrr a0, cycle
  csrr a0, instret
  csrr a0, time
  li a0, 123
  csrw mhpmcounter3, a0
  csrr a1, mhpmcounter3
  CHECK a1, 123
  csrw mhpmcounter18, a0
  csrw mhpmevent31, a0
  csrr a1, mhpmevent31
  CHECK a1, 123
  li a0, -1
  csrw mcountinhibit, a0
  csrr a1, mcountinhibit
  CHECK a1, 0x7fffd
  csrw mcountinhibit, zero
  # mcountinhibit.IR/CY freeze minstret/mcycle; clearing resumes from the frozen value
  li a0, 5
  csrw mcountinhibit, a0
  csrr a1, minstret
  nop
  nop
  csrr a2, minstret
  sub a3, a2, a1
  CHECK a3, 0
  csrr a1, mcycle
  nop
  csrr a2, mcycle
  sub a3, a2, a1
  CHECK a3, 0
  csrr a1, minstret
  csrw mcountinhibit, zero
  csrr a2, minstret
  sub a3, a2, a1
  CHECK a3, 0
  csrr a2, minstret
  sub a3, a2, a1
  addi gp, gp, 1
  beqz a3, fail          # counting again
  li a0, -1
  csrw mcounteren, a0
  csrr a1, mcounteren
  CHECK a1, 0xffffffff
  # PMP: pmpcfg0/2 and pmpaddr0..15 exist
  li a0, 0x3fffffffffffff
  csrw pmpaddr15, a0
  csrr a1, pmpaddr15
  CHECK a1, 0x3fffffffffffff
  csrr a1, pmpcfg2
  # stimecmp exists (Sstc) in M-mode
  csrr a1, stimecmp
  # fcsr
  li a0, 0x2000
  csrs mstatus, a0
  li a0, 0xff
  csrw fcsr, a0
  csrr a1, frm
  CHECK a1, 7
  csrr a1, fflags
  CHECK a1, 0x1f
  csrwi fflags, 0
  csrr a1, fcsr
  CHECK a1, 0xe0
  # absent CSRs probed by OpenSBI
  EXPECT_ILLEGAL "csrr a0, 0x3c0"      # pmpaddr16
  EXPECT_ILLEGAL "csrr a0, 0xb13"      # mhpmcounter19
  EXPECT_ILLEGAL "csrr a0, 0x30c"      # mstateen0
  EXPECT_ILLEGAL "csrr a0, 0xfb0"      # mtopi
  EXPECT_ILLEGAL "csrr a0, 0xda0"      # scountovf
  EXPECT_ILLEGAL "csrr a0, 0x3a1"      # pmpcfg1 (odd: RV32 only)
  EXPECT_ILLEGAL "csrr a0, 0x3a4"      # pmpcfg4 (QEMU 7.2 has 16 entries)
  EXPECT_ILLEGAL "csrr a0, 0xc13"      # hpmcounter19
  EXPECT_ILLEGAL "csrr a0, 0x34a"      # mtinst (no H)
  EXPECT_ILLEGAL "csrr a0, 0x600"      # hstatus
  EXPECT_ILLEGAL "csrw mhartid, a0"    # read-only
  EXPECT_ILLEGAL "csrs mvendorid, a0"
  EXPECT_ILLEGAL "csrr a0, 0x7c0"
  # csrrs with rs1 = x0 does not write, so reading a read-only CSR is fine
  csrrs a0, mhartid, zero
  # FS = Off makes FP CSRs and instructions illegal
  li a0, 0x6000
  csrc mstatus, a0
  EXPECT_ILLEGAL "csrr a0, fcsr"
  EXPECT_ILLEGAL "fmv.x.d a0, fa0"
  EXPECT_ILLEGAL "fld fa0, 0(sp)"
  EXPECT_ILLEGAL "unimp"
  EXPECT_ILLEGAL ".word 0xffffffff"
  EXPECT_ILLEGAL ".word 0x0000707f"
  PASS
