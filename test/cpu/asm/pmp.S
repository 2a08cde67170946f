# PMP: NA4/NAPOT/all-memory entries, priority, S-mode faults, partial matches, locking (M-mode enforcement).
.macro EXPECT_FAULT_AT cause, base, off, insn
  li s3, \cause
  addi s5, \base, \off
  la s4, 77f
  \insn
  j fail
77:
.endm
main:
  la t0, m_handler
  csrw mtvec, t0
  la s0, ro_word
  la s1, noaccess
  srli t0, s0, 2
  csrw pmpaddr0, t0                 # NA4 at ro_word
  srli t0, s1, 2
  ori t0, t0, 0x1ff
  csrw pmpaddr1, t0                 # NAPOT 4 KiB at noaccess
  li t0, -1
  csrw pmpaddr2, t0                 # NAPOT everything
  li t0, 0x1f1811                   # e2 = NAPOT RWX, e1 = NAPOT ---, e0 = NA4 R
  csrw pmpcfg0, t0
  csrr t1, pmpcfg0
  CHECK t1, 0x1f1811
  csrr t1, pmpaddr1
  srli t2, s1, 2
  ori t2, t2, 0x1ff
  addi gp, gp, 1
  bne t1, t2, fail
  # to S
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  la t0, s_code
  csrw mepc, t0
  mret
s_code:
  lw a1, 0(s0)
  CHECK a1, 0x5a5a
  EXPECT_FAULT_AT 7, s0, 0, "sw a1, 0(s0)"
  EXPECT_FAULT_AT 5, s0, 0, "ld a1, 0(s0)"     # 8 bytes: only half matches entry 0
  EXPECT_FAULT_AT 5, s1, 0, "ld a1, 0(s1)"
  EXPECT_FAULT_AT 7, s1, 0x10, "sd a1, 16(s1)"
  EXPECT_FAULT_AT 1, s1, 0, "jr s1"
  ecall
m_code:
  # M ignores unlocked entries
  li a1, 0x77
  sw a1, 0(s0)
  ld a1, 0(s1)
  # lock entry 0: now M is checked too, and the entry is frozen
  li t0, 0x80
  csrs pmpcfg0, t0
  csrr t1, pmpcfg0
  CHECK t1, 0x1f1891
  EXPECT_FAULT_AT 7, s0, 0, "sw a1, 0(s0)"
  lw a1, 0(s0)
  CHECK a1, 0x77
  csrw pmpcfg0, zero                # entry 0 stays locked; entries 1, 2 clear
  csrr t1, pmpcfg0
  CHECK t1, 0x91
  csrw pmpaddr0, zero               # ignored
  csrr t1, pmpaddr0
  srli t2, s0, 2
  addi gp, gp, 1
  bne t1, t2, fail
  PASS

.align 2
m_handler:
  csrr t1, mcause
  li t2, 9
  beq t1, t2, from_s
  EXPECTED_FAULT
  mret
from_s:
  li t0, 0x1800
  csrs mstatus, t0
  la t0, m_code
  csrw mepc, t0
  mret

.data
.align 12
ro_word: .word 0x5a5a, 0
.align 12
noaccess: .zero 4096
