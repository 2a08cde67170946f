# Every compressed instruction form (explicit c.* mnemonics).
main:
  la s0, buf
  # c.addi4spn / c.addi16sp use sp
  mv s1, sp
  la sp, stack_top
  c.addi4spn a0, sp, 16
  la a1, stack_top
  addi a1, a1, 16
  bne a0, a1, fail
  c.addi16sp sp, -32
  la a1, stack_top
  addi a1, a1, -32
  bne sp, a1, fail
  c.addi16sp sp, 32
  # c.li / c.addi / c.lui / c.addiw
  c.li a0, -32
  CHECK a0, -32
  c.addi a0, 31
  CHECK a0, -1
  c.lui a0, 0xfffe0      # nzimm = -32 << 12
  CHECK a0, 0xfffffffffffe0000
  c.lui a0, 1
  CHECK a0, 0x1000
  li a0, 0x7fffffff
  c.addiw a0, 1
  CHECK a0, 0xffffffff80000000
  c.addiw a0, 0          # sext.w
  CHECK a0, 0xffffffff80000000
  # c.slli / c.srli / c.srai / c.andi
  li a0, 1
  c.slli a0, 63
  CHECK a0, 0x8000000000000000
  c.srai a0, 32
  CHECK a0, 0xffffffff80000000
  c.srli a0, 60
  CHECK a0, 0xf
  c.andi a0, -6
  CHECK a0, 0xa
  # register-register
  li a1, 3
  c.sub a0, a1
  CHECK a0, 7
  c.xor a0, a1
  CHECK a0, 4
  c.or a0, a1
  CHECK a0, 7
  c.and a0, a1
  CHECK a0, 3
  li a0, 0x7fffffff
  c.addw a0, a1
  CHECK a0, 0xffffffff80000002
  c.subw a0, a1
  CHECK a0, 0x7fffffff
  c.mv a2, a0
  CHECK a2, 0x7fffffff
  c.add a2, a0
  CHECK a2, 0xfffffffe
  # loads and stores
  li a0, 0x1122334455667788
  c.sd a0, 8(s0)
  c.ld a1, 8(s0)
  CHECK a1, 0x1122334455667788
  li a0, 0x87654321
  c.sw a0, 16(s0)
  c.lw a1, 16(s0)
  CHECK a1, 0xffffffff87654321
  la sp, stack_top
  addi sp, sp, -64
  c.sdsp a0, 8(sp)
  c.ldsp a3, 8(sp)
  CHECK a3, 0x87654321
  c.swsp a0, 20(sp)
  c.lwsp a3, 20(sp)
  CHECK a3, 0xffffffff87654321
  # FP compressed loads/stores need FS on
  li a0, 0x2000
  csrs mstatus, a0
  li a0, 0x400921fb54442d18
  sd a0, 24(s0)
  c.fld fa0, 24(s0)
  c.fsd fa0, 32(s0)
  ld a1, 32(s0)
  CHECK a1, 0x400921fb54442d18
  c.fsdsp fa0, 40(sp)
  c.fldsp fa1, 40(sp)
  fmv.x.d a1, fa1
  CHECK a1, 0x400921fb54442d18
  mv sp, s1
  # control flow
  li a0, 0
  c.beqz a0, 1f
  j fail
1:c.bnez a0, fail
  li a0, 1
  c.bnez a0, 2f
  j fail
2:c.beqz a0, fail
  c.j 3f
  j fail
3:la a4, 4f
  c.jr a4
  j fail
4:la a4, 5f
  c.jalr a4
6:j 7f
5:la a5, 6b
  bne ra, a5, fail
  ret
7:c.nop
  # c.ebreak traps with cause 3
  la a0, 8f
  csrw mtvec, a0
20:c.ebreak
  j fail
.align 2
8:csrr a0, mcause
  CHECK a0, 3
  csrr a0, mepc
  la a1, 20b
  addi gp, gp, 1
  bne a0, a1, fail
  # an illegal compressed instruction reports its 16 bits in mtval
  la a0, 12f
  csrw mtvec, a0
  .half 0x0000
  j fail
.align 2
12:csrr a0, mtval
  CHECK a0, 0
  csrr a0, mcause
  CHECK a0, 2
  la a0, 13f
  csrw mtvec, a0
  .half 0x6001          # c.lui with nzimm = 0: reserved, was c.ld x0? no: 0x6001 = c.lui x0, 0 -> reserved
  j fail
.align 2
13:csrr a0, mtval
  CHECK a0, 0x6001
  PASS
.data
.align 4
buf: .zero 64
.align 4
stack: .zero 256
stack_top:
