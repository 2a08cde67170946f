# Exceptions, privilege transitions (mret/sret), delegation, interrupts, priority, vectored mode, WFI.
.equ MSTATUS_MPP, 0x1800
.macro SET_MTVEC label
  la t0, \label
  csrw mtvec, t0
.endm
.macro SET_STVEC label
  la t0, \label
  csrw stvec, t0
.endm
main:
  # ---- ecall from M
  SET_MTVEC t1h
t1e:
  ecall
  j fail
.align 2
t1h:
  csrr a0, mcause
  CHECK a0, 11
  csrr a0, mepc
  la a1, t1e
  addi gp, gp, 1
  bne a0, a1, fail
  csrr a0, mtval
  CHECK a0, 0
  # MPP = M, MPIE = old MIE (0), MIE = 0
  csrr a0, mstatus
  li a1, 0x1888
  and a0, a0, a1
  li a1, 0x1800
  addi gp, gp, 1
  bne a0, a1, fail

  # ---- mret to S, ecall from S goes to M with MPP = S
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, 0x0800          # MPP = S
  csrs mstatus, t0
  li t0, 0x8             # MIE = 1 -> MPIE after... set MPIE
  li t0, 0x80
  csrs mstatus, t0
  la t0, in_s
  csrw mepc, t0
  SET_MTVEC t2h
  mret
in_s:
  # in S: MIE = MPIE (1), MPIE = 1, MPP = U
  ecall
  j fail
.align 2
t2h:
  csrr a0, mcause
  CHECK a0, 9
  csrr a0, mstatus
  srli a0, a0, 11
  andi a0, a0, 3
  CHECK a0, 1
  csrr a0, mstatus
  andi a0, a0, 0x88      # MIE cleared, MPIE = 1 (MIE was 1 in S)
  CHECK a0, 0x80

  # ---- delegate U ecall and illegal instruction to S; go S -> U with sret
  li t0, (1 << 8) | (1 << 2)
  csrw medeleg, t0
  SET_STVEC s_handler
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  la t0, s_code
  csrw mepc, t0
  SET_MTVEC m_from_s
  mret
s_code:
  # S-mode: set SPP = U, sepc = u_code, sret
  li t0, 0x100
  csrc sstatus, t0
  li t0, 0x20            # SPIE = 1
  csrs sstatus, t0
  la t0, u_code
  csrw sepc, t0
  li s2, 0
  sret
u_code:
  li s2, 1
  ecall                  # -> S (delegated), cause 8
u_after_ecall:
  csrr a0, mstatus       # illegal in U -> S (delegated), cause 2
u_last:
  li s2, 2
  ebreak                 # not delegated -> M
  j fail
.align 2
s_handler:
  csrr a0, scause
  li a1, 8
  beq a0, a1, s_ecall
  li a1, 2
  beq a0, a1, s_illegal
  j fail
s_ecall:
  csrr a0, sstatus
  andi a0, a0, 0x100     # SPP = U
  CHECK a0, 0
  csrr a0, sepc
  addi a0, a0, 4
  la a1, u_after_ecall
  addi gp, gp, 1
  bne a0, a1, fail
  csrw sepc, a1
  sret
s_illegal:
  csrr a0, stval
  li a1, 0x30002573      # csrr a0, mstatus
  addi gp, gp, 1
  bne a0, a1, fail
  la a0, u_last
  csrw sepc, a0
  sret
.align 2
m_from_s:
  csrr a0, mcause
  CHECK a0, 3
  csrr a0, mstatus
  srli a0, a0, 11
  andi a0, a0, 3
  CHECK a0, 0            # came from U
  CHECK s2, 2
  csrw medeleg, zero

  # ---- TSR: sret in S traps; TW: wfi in S traps; wfi in U is illegal
  li t0, 0x400000        # TSR
  csrs mstatus, t0
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  la t0, tsr_s
  csrw mepc, t0
  SET_MTVEC tsr_h
  mret
tsr_s:
  sret
  j fail
.align 2
tsr_h:
  csrr a0, mcause
  CHECK a0, 2
  csrr a0, mtval
  CHECK a0, 0x10200073
  li t0, 0x400000
  csrc mstatus, t0

  # ---- misaligned AMO / LR, access faults
  SET_MTVEC ex_h
  la s0, data
  addi s1, s0, 2
  li s3, 6
  la s4, 1f
  amoadd.w a0, a0, (s1)
  j fail
1:li s3, 4
  la s4, 2f
  lr.d a0, (s1)
  j fail
2:li s3, 5
  la s4, 3f
  li s1, 0x10
  ld a0, 0(s1)           # unassigned
  j fail
3:li s3, 7
  la s4, 4f
  sd a0, 0(s1)
  j fail
4:li s3, 1
  la s4, 5f
  li s5, 0x40000000
  jr s5                  # fetch from unassigned
  j fail
5:j irq_tests

.align 2
ex_h:
  csrr a0, mcause
  addi gp, gp, 1
  bne a0, s3, fail
  csrr a0, mtval
  li t0, 1
  beq s3, t0, 6f
  addi gp, gp, 1
  bne a0, s1, fail
  j 7f
6:addi gp, gp, 1
  bne a0, s5, fail
7:csrw mepc, s4
  mret

irq_tests:
  # ---- interrupts: raise MSIP, MTIP, MEIP while disabled; MEI is taken first
  li s0, IRQCTL
  li t0, (3 << 1) | 1
  sw t0, 0(s0)
  li t0, (7 << 1) | 1
  sw t0, 0(s0)
  li t0, (11 << 1) | 1
  sw t0, 0(s0)
  li t0, 0x888
  csrw mie, t0
  csrr a0, mip
  CHECK a0, 0x888
  li s3, 0               # order of causes seen
  SET_MTVEC irq_h
  csrsi mstatus, 8       # MIE = 1: the three interrupts are taken in priority order
  nop
  nop
  CHECK s3, 0x0b0307
  # ---- vectored mode: cause 11 goes to base + 44
  la t0, vec_table
  ori t0, t0, 1
  csrw mtvec, t0
  li s6, 0
  li t0, (11 << 1) | 1
  sw t0, 0(s0)
  nop
  CHECK s6, 11
  # ---- S-level software interrupt delegated to S, taken in S
  csrci mstatus, 8
  csrw mie, zero
  li t0, 0x2
  csrw mideleg, t0
  csrw mie, t0
  SET_STVEC ssi_h
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  csrci mstatus, 2       # SIE = 0
  la t0, ssi_s
  csrw mepc, t0
  SET_MTVEC m_back
  li s7, 0
  mret
ssi_s:
  csrsi sip, 2           # pending, but SIE = 0 in S: not taken
  nop
  CHECK s7, 0
  csrsi sstatus, 2       # SIE = 1 -> taken
  nop
  CHECK s7, 1
  ecall                  # back to M
.align 2
ssi_h:
  csrr a0, scause
  li t1, 0x8000000000000001
  addi gp, gp, 1
  bne a0, t1, fail
  csrci sip, 2
  li s7, 1
  sret
.align 2
m_back:
  csrr a0, mcause
  CHECK a0, 9
  # ---- S-level priority: SEI > SSI > STI, all delegated, taken in S
  li t0, 0x222
  csrw mideleg, t0
  csrw mie, t0
  li t0, (9 << 1) | 1
  sw t0, 0(s0)           # SEIP line
  li t0, 0x22
  csrs mip, t0           # SSIP, STIP (software-writable while menvcfg.STCE = 0)
  SET_STVEC sprio_h
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  csrsi mstatus, 2       # SIE: taken as soon as we are in S
  la t0, sprio_s
  csrw mepc, t0
  SET_MTVEC m_back2
  li s3, 0
  mret
sprio_s:
  nop
  CHECK s3, 0x090105
  ecall
.align 2
sprio_h:
  csrr a0, scause
  bgez a0, fail
  slli a0, a0, 1
  srli a0, a0, 1
  slli s3, s3, 8
  or s3, s3, a0
  li t1, 9
  bne a0, t1, 1f
  li t0, (9 << 1)        # lower the SEIP line
  sw t0, 0(s0)
  sret
1:li t1, 1
  bne a0, t1, 2f
  csrci sip, 2
  sret
2:li t0, 0x20            # STIP: only M can clear it
  ecall
  sret
.align 2
m_back2:
  csrr a0, mcause
  li t1, 9
  addi gp, gp, 1
  bne a0, t1, fail
  csrr a0, mepc
  la t1, sprio_h
  bltu a0, t1, 4f        # the final ecall from sprio_s
  li t0, 0x20            # ecall from the STI handler: clear STIP for it
  csrc mip, t0
  addi a0, a0, 4
  csrw mepc, a0
  mret
4:csrw mideleg, zero
  # ---- WFI wakes on the Sstc timer (STIP, not delegated: taken in M)
  li t0, 0x8000000000000000
  csrw menvcfg, t0
  li t0, 1000
  csrw stimecmp, t0
  li t0, 0x20
  csrw mie, t0
  SET_MTVEC timer_h
  li s8, 0
  csrsi mstatus, 8
  wfi
  CHECK s8, 1
  PASS
.align 2
timer_h:
  csrr a0, mcause
  li t1, 0x8000000000000005
  addi gp, gp, 1
  bne a0, t1, fail
  li t0, -1
  csrw stimecmp, t0
  csrr a0, mip
  andi a0, a0, 0x20
  CHECK a0, 0
  li s8, 1
  mret
.align 2
irq_h:
  csrr a0, mcause
  bgez a0, fail          # must be an interrupt
  slli a0, a0, 1
  srli a0, a0, 1
  slli s3, s3, 8
  or s3, s3, a0
  slli t0, a0, 1         # lower that line
  sw t0, 0(s0)
  mret
.align 6
.option push
.option norvc
vec_table:
  .rept 11
  j fail
  .endr
  j vec11
.option pop
vec11:
  csrr a0, mcause
  slli a0, a0, 1
  srli a0, a0, 1
  mv s6, a0
  li t0, (11 << 1)
  sw t0, 0(s0)
  mret
.data
.align 4
data: .zero 64
