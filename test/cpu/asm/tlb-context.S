# TLB entries are tagged with the translation context they were filled under
# (privilege, SUM, MXR, MPRV): switching context must not let an entry filled
# under another one grant an access, and switching back may use it again.
.equ VA_PAGES, 0x40200000
.equ S_PAGE, VA_PAGES
.equ U_PAGE, VA_PAGES + 0x1000
.equ U_CODE, VA_PAGES + 0x2000
.equ SUM, 0x40000

# EXPECT_FAULT (test/cpu/guest.ts) checks cause and tval in m_handler.

main:
  la t0, m_handler
  csrw mtvec, t0
  SV39_ROOT root, l1
  la s1, l1
  la a0, l0
  MKPTE t0, a0, PTE_V
  sd t0, 8(s1)                      # l1[1] -> l0 (VA_PAGES)
  la s2, l0
  la a0, spage
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_A|PTE_D
  sd t0, 0(s2)                      # supervisor RW
  la a0, upage
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_U|PTE_A|PTE_D
  sd t0, 8(s2)                      # user RW
  la a0, ucode
  MKPTE t0, a0, PTE_V|PTE_R|PTE_X|PTE_U|PTE_A
  sd t0, 16(s2)                     # user code
  la a0, spage
  li a1, 0x5151
  sd a1, 0(a0)
  la a0, upage
  li a1, 0x6161
  sd a1, 0(a0)
  SV39_ON root
  TO_S s_first

s_first:
  li a0, S_PAGE
  li a2, U_PAGE
  ld a1, 0(a0)
  CHECK a1, 0x5151
  li t0, SUM
  csrs sstatus, t0
  ld a1, 0(a2)                      # a user page with SUM: fills the read and write TLBs
  CHECK a1, 0x6161
  sd a1, 8(a2)
  csrc sstatus, t0
  EXPECT_FAULT 13, U_PAGE, "ld a1, 0(a2)"        # SUM = 0: the SUM entry must not hit
  EXPECT_FAULT 15, U_PAGE + 8, "sd a1, 8(a2)"
  li t0, SUM
  csrs sstatus, t0
  ld a1, 8(a2)                      # back under SUM
  CHECK a1, 0x6161
  csrc sstatus, t0
  # sret to user code (SPP = U)
  li t0, 0x100
  csrc sstatus, t0
  li t0, U_CODE
  csrw sepc, t0
  sret

m_after_u:
  TO_S s_again

s_again:
  li a0, S_PAGE
  li a2, U_PAGE
  EXPECT_FAULT 13, U_PAGE, "ld a1, 0(a2)"        # the user's entries must not hit in S without SUM
  EXPECT_FAULT 15, U_PAGE + 16, "sd a1, 16(a2)"
  ld a1, 0(a0)
  CHECK a1, 0x5151
  li t0, SUM
  csrs sstatus, t0
  ld a1, 16(a2)                     # what the user stored
  CHECK a1, 0x7171
  csrc sstatus, t0
  ecall

.align 2
m_handler:
  csrr t1, mcause
  li t2, 9                          # ecall from S: done
  beq t1, t2, m_done
  li t2, 8                          # ecall from U: back to S
  beq t1, t2, m_u_done
  EXPECTED_FAULT
  mret                              # MPP still holds the trapping mode
m_u_done:
  la t0, m_after_u
  jr t0
m_done:
  csrw satp, zero
  PASS

# User code, in a page of its own mapped at U_CODE (la is pc-relative, so it works there).
.align 12
ucode:
  li a0, S_PAGE
  li a2, U_PAGE
  EXPECT_FAULT 13, S_PAGE, "ld a1, 0(a0)"        # the supervisor's entry must not hit in U
  EXPECT_FAULT 15, S_PAGE, "sd a1, 0(a0)"
  ld a1, 0(a2)
  li t4, 0x6161
  beq a1, t4, 1f
  li s3, -1                         # (fail is out of a branch's reach:) any fault now fails
  ld a1, 0(zero)
1:li a1, 0x7171
  sd a1, 16(a2)
  ecall
.align 12

.data
.align 12
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
spage: .zero 4096
upage: .zero 4096
