/**
 * Guest programs the translating engine's tests share (jit.test.ts, jit-regions.test.ts).
 */

/** Needs a clock that advances with executed instructions (set up by the test), so not in asm/. */
export const IRQ_LOOP = `
# A timer interrupt (Sstc, delegated to S) taken inside a tight loop that has
# been translated. time advances with executed instructions (the test's clock).
.equ RESULT, 0x80300000
.equ DEADLINE, 200000
main:
  li t0, (1 << 63)         # menvcfg.STCE
  csrs menvcfg, t0
  li t0, 2                 # mcounteren.TM
  csrs mcounteren, t0
  li t0, 0x20              # mideleg STIP
  csrs mideleg, t0
  la t0, s_handler
  csrw stvec, t0
  li t0, 0x20
  csrs mie, t0             # STIE
  li t0, -1
  csrw stimecmp, t0
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x800
  csrs mstatus, t0         # MPP = S
  la t0, s_main
  csrw mepc, t0
  mret
.balign 4
s_main:
  li t0, DEADLINE
  csrw stimecmp, t0
  csrsi sstatus, 2         # SIE
  li s0, 0
1:
  addi s0, s0, 1
  j 1b
.balign 4
s_handler:
  csrr t0, scause
  li t1, (1 << 63) | 5
  bne t0, t1, fail
  li t2, RESULT
  rdtime t0
  sd t0, 0(t2)
  sd s0, 8(t2)
  csrr t0, sepc
  sd t0, 16(t2)
  PASS
`;
