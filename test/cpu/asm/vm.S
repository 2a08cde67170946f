# Sv39 and Sv48: superpages, A/D updates, permission faults, SUM/MXR/MPRV, sfence.vma, canonical checks.
.equ VA_MEGA, 0x40000000
.equ VA_PAGES, 0x40200000

# EXPECT_FAULT (test/cpu/guest.ts) checks cause and tval in m_handler.

main:
  la t0, m_handler
  csrw mtvec, t0
  # root (Sv39): [2] = 1 GiB identity page for 0x80000000, [1] -> l1
  SV39_ROOT root, l1
  # l1[0]: 2 MiB page at PA 0x80200000 (R W U, A D)
  la s1, l1
  li a0, 0x80200000
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_A|PTE_D
  sd t0, 0(s1)
  # l1[1] -> l0
  la a0, l0
  MKPTE t0, a0, PTE_V
  sd t0, 8(s1)
  # l0[0]: R only, A clear (hardware sets it)
  la s2, l0
  la a0, page0
  MKPTE t0, a0, PTE_V|PTE_R
  sd t0, 0(s2)
  # l0[1]: R W, A set, D clear
  la a0, page1
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_A
  sd t0, 8(s2)
  # l0[2]: X only
  la a0, page2
  MKPTE t0, a0, PTE_V|PTE_X|PTE_A
  sd t0, 16(s2)
  # l0[3]: user RW
  la a0, page3
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_U|PTE_A|PTE_D
  sd t0, 24(s2)
  # l0[4]: invalid; l0[5]: W without R (reserved)
  la a0, page3
  MKPTE t0, a0, PTE_V|PTE_W|PTE_A|PTE_D
  sd t0, 40(s2)
  # data
  li a0, 0x80200000
  li a1, 0x1111
  sd a1, 0(a0)
  la a0, page0
  li a1, 0x2222
  sd a1, 0(a0)
  la a0, page2
  li a1, 0x3333
  sd a1, 0(a0)
  la a0, page3
  li a1, 0x4444
  sd a1, 0(a0)
  # satp = Sv39 | root
  SV39_ON root
  TO_S s_tests
s_tests:
  li a0, VA_MEGA
  ld a1, 0(a0)
  CHECK a1, 0x1111
  li a0, VA_PAGES
  ld a1, 0(a0)
  CHECK a1, 0x2222
  EXPECT_FAULT 15, VA_PAGES + 8, "sd a1, 8(a0)"
  li a0, VA_PAGES + 0x1000
  sd a1, 0(a0)                      # sets D
  li a0, VA_PAGES + 0x2000
  EXPECT_FAULT 13, VA_PAGES + 0x2000, "ld a1, 0(a0)"   # X only
  li t0, 0x80000                    # MXR
  csrs sstatus, t0
  ld a1, 0(a0)
  CHECK a1, 0x3333
  csrc sstatus, t0
  li a0, VA_PAGES + 0x3000
  EXPECT_FAULT 13, VA_PAGES + 0x3000, "ld a1, 0(a0)"   # U page, SUM = 0
  EXPECT_FAULT 15, VA_PAGES + 0x3008, "sd a1, 8(a0)"
  li t0, 0x40000                    # SUM
  csrs sstatus, t0
  ld a1, 0(a0)
  CHECK a1, 0x4444
  csrc sstatus, t0
  li a0, VA_PAGES + 0x4000
  EXPECT_FAULT 13, VA_PAGES + 0x4000, "ld a1, 0(a0)"   # invalid
  li a0, VA_PAGES + 0x5000
  EXPECT_FAULT 13, VA_PAGES + 0x5000, "ld a1, 0(a0)"   # W without R
  li a0, VA_PAGES
  EXPECT_FAULT 12, VA_PAGES, "jr a0"                    # not executable
  li a0, 0x8000000000
  EXPECT_FAULT 13, 0x8000000000, "ld a1, 0(a0)"        # not canonical for Sv39
  li a0, 0xffffffc000000000
  EXPECT_FAULT 13, 0xffffffc000000000, "ld a1, 0(a0)"  # canonical, unmapped (root[256])
  ecall                             # back to M
m_after_s:
  # A and D were set by the walks
  la s2, l0
  ld a0, 0(s2)
  andi a0, a0, PTE_A|PTE_D
  CHECK a0, PTE_A
  ld a0, 8(s2)
  andi a0, a0, PTE_A|PTE_D
  CHECK a0, PTE_A|PTE_D
  # MPRV: M-mode loads translate with MPP = S
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x20800                    # MPRV | MPP = S
  csrs mstatus, t0
  li a0, VA_MEGA
  ld a1, 0(a0)
  CHECK a1, 0x1111
  li t0, 0x20000
  csrc mstatus, t0
  # sfence.vma: retarget l0[0] to page3's frame
  la a0, page3
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A
  sd t0, 0(s2)
  sfence.vma
  li t0, 0x20000
  csrs mstatus, t0
  li a0, VA_PAGES
  ld a1, 0(a0)
  CHECK a1, 0x4444
  li t0, 0x20000
  csrc mstatus, t0
  # U mode cannot execute supervisor pages: the fetch faults, resume in M
  li t0, 0x1800
  csrc mstatus, t0
  la t0, u_code
  csrw mepc, t0
  li s3, 12
  la s5, u_code
  la s4, m_after_u
  li s7, 1
  mret
u_code:
  j fail
m_after_u:
  li s7, 0
  # Sv48: root48[0] -> the Sv39 root (acts as level 2), root48[1] = 512 GiB page at PA 0
  la s0, root48
  la a0, root
  MKPTE t0, a0, PTE_V
  sd t0, 0(s0)
  li a0, 0
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_X|PTE_A|PTE_D
  sd t0, 8(s0)
  # root48[2]: misaligned 512 GiB page (PPN not a multiple of 2^27)
  li a0, 0x80000000
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A|PTE_D
  sd t0, 16(s0)
  la a0, root48
  srli a0, a0, 12
  li t0, 9 << 60
  or a0, a0, t0
  csrw satp, a0
  sfence.vma
  TO_S s48
s48:
  li a0, VA_MEGA
  ld a1, 0(a0)
  CHECK a1, 0x1111
  li a0, 0x8000000000 + 0x80200000
  ld a1, 0(a0)
  CHECK a1, 0x1111
  li a0, 0x10000000000
  EXPECT_FAULT 13, 0x10000000000, "ld a1, 0(a0)"
  li a0, 0x800000000000
  EXPECT_FAULT 13, 0x800000000000, "ld a1, 0(a0)"      # not canonical for Sv48
  ecall
m_done:
  csrw satp, zero
  PASS

.align 2
m_handler:
  csrr t1, mcause
  li t2, 9                          # ecall from S: continue in M at the next stage
  beq t1, t2, from_ecall
  li t2, 8
  beq t1, t2, from_ecall_u
  EXPECTED_FAULT
  beqz s7, 2f
  li t1, 0x1800                     # resume in M
  csrs mstatus, t1
2:mret                              # otherwise MPP still holds the trapping mode
from_ecall:
  csrr t1, mepc
  la t2, s48
  bgeu t1, t2, 1f
  la t0, m_after_s
  jr t0
1:la t0, m_done
  jr t0
from_ecall_u:
  la t0, m_after_u
  jr t0

.data
.align 12
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
page0: .zero 4096
page1: .zero 4096
page2: .zero 4096
page3: .zero 4096
root48: .zero 4096
