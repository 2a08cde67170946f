# sfence.vma with an address: the page's new mapping is used afterwards, for a 4 KiB page
# (with and without an ASID operand) and for a 2 MiB superpage fenced through another of its
# 4 KiB pieces than the one the TLB holds. Runs in S-mode (page tables reached through an
# identity gigapage), so nothing else flushes the TLB in between; ecall ends it.
.equ VA_MEGA, 0x40000000
.equ VA_PAGES, 0x40200000
.equ PA_MEGA1, 0x80200000
.equ PA_MEGA2, 0x80400000


main:
  la t0, m_handler
  csrw mtvec, t0
  # root (Sv39): [2] = 1 GiB identity page for 0x80000000 (code, data, page tables); [1] -> l1; l1[0]: 2 MiB page -> PA_MEGA1; l1[1] -> l0; l0[0], l0[1] -> pageA, pageB
  SV39_ROOT root, l1
  la s1, l1
  li a0, PA_MEGA1
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A|PTE_D
  sd t0, 0(s1)
  la a0, l0
  MKPTE t0, a0, PTE_V
  sd t0, 8(s1)
  la s2, l0
  la a0, pageA
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A
  sd t0, 0(s2)
  la a0, pageB
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A
  sd t0, 8(s2)
  # data
  li a0, PA_MEGA1 + 0x1000
  li a1, 0x11
  sd a1, 0(a0)
  li a0, PA_MEGA2 + 0x1000
  li a1, 0x22
  sd a1, 0(a0)
  la a0, pageA
  li a1, 0xa
  sd a1, 0(a0)
  la a0, pageB
  li a1, 0xb
  sd a1, 0(a0)
  la a0, pageC
  li a1, 0xc
  sd a1, 0(a0)
  SV39_ON root

  TO_S s_tests
s_tests:
  # 4 KiB pages: both cached, then each retargeted and fenced by address
  li a0, VA_PAGES
  ld a1, 0(a0)
  CHECK a1, 0xa
  li a2, VA_PAGES + 4096
  ld a1, 0(a2)
  CHECK a1, 0xb
  la a0, pageC
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A
  sd t0, 0(s2)
  li a0, VA_PAGES
  sfence.vma a0
  ld a1, 0(a0)
  CHECK a1, 0xc
  la a0, pageA
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A
  sd t0, 8(s2)
  li a0, VA_PAGES + 4096
  li a2, 1
  sfence.vma a0, a2
  ld a1, 0(a0)
  CHECK a1, 0xa
  # 2 MiB page: its second 4 KiB piece is cached; the fence names the first piece
  li a0, VA_MEGA + 0x1000
  ld a1, 0(a0)
  CHECK a1, 0x11
  li a0, PA_MEGA2
  MKPTE t0, a0, PTE_V|PTE_R|PTE_A|PTE_D
  sd t0, 0(s1)
  li a0, VA_MEGA
  sfence.vma a0
  li a0, VA_MEGA + 0x1000
  ld a1, 0(a0)
  CHECK a1, 0x22
  li s11, 1
  ecall

# M-mode: an ecall from S after the last check passes; anything else (CHECK's jump to fail
# faults in S-mode on the finisher) fails with the count of checks so far.
.align 2
m_handler:
  csrr t0, mcause
  li t1, 9
  bne t0, t1, fail
  li t1, 1
  bne s11, t1, fail
  PASS

.data
.align 12
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
pageA: .zero 4096
pageB: .zero 4096
pageC: .zero 4096
