# Sdtrig probe: a bare-metal program for the riscv64 virt machine (-bios, at
# 0x80000000) that exercises the trigger CSRs and prints what it sees on the
# UART, then powers off. Its output under tsvmm must equal QEMU 7.2's.
.equ UART, 0x10000000
.equ TYPE2, 0x2000000000000000
.equ M_EXEC, 0x44
.equ M_STORE, 0x42
.equ M_LOAD, 0x41
.option norvc
.option norelax
.text
.globl _start
_start:
  la sp, stack_top
  la t0, trap
  csrw mtvec, t0

  csrr a1, tinfo
  la a0, s_tinfo
  call show
  csrr a1, tselect
  la a0, s_tselect
  call show
  li t0, 5
  csrw tselect, t0
  csrr a1, tselect
  la a0, s_tselect5
  call show
  li t0, 1
  csrw tselect, t0
  csrr a1, tselect
  la a0, s_tselect1
  call show
  csrr a1, tdata1
  la a0, s_tdata1
  call show
  csrr a1, tdata2
  la a0, s_tdata2
  call show
  li t0, 0x1234
  csrw tdata3, t0
  csrr a1, tdata3
  la a0, s_tdata3
  call show
  # every writable-looking bit: what is kept?
  li t0, 0x2fffffffffffffff
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_all
  call show
  li t0, 0x2000000000000000
  csrw tdata1, t0
  # size = 6 bytes (unsupported) and size = 8 bytes (sizehi=1, sizelo=1)
  li t0, 0x2000000000000044 | (1 << 21)
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_size6
  call show
  li t0, 0x2000000000010044 | (1 << 21)
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_size8
  call show
  # type 6 (mcontrol6)
  li t0, 0x6000000000000000 | 0x44 | (3 << 16) | (1 << 12)
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_type6
  call show
  # type 3 (icount): what reads back?
  li t0, 0x3000000000000000 | (1 << 10) | (1 << 9)
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_type3
  call show
  # type 15 (unavailable)
  li t0, 0xf000000000000000
  csrw tdata1, t0
  csrr a1, tdata1
  la a0, s_type15
  call show
  li t0, TYPE2
  csrw tdata1, t0
  csrw tselect, zero
  # tcontrol (0x7a5) and mcontext (0x7a8): present?
  csrr a1, 0x7a5
  la a0, s_tcontrol
  call show
  call show_trap

  # ---- execute trigger in M-mode
  la t0, here
  csrw tdata2, t0
  li t0, TYPE2 | M_EXEC
  csrw tdata1, t0
  li a1, 0
here:
  addi a1, a1, 1
  la a0, s_execran
  call show
  call show_trap
  la t0, here
  ld a1, trap_epc
  sub a1, a1, t0
  la a0, s_execepc
  call show
  ld a1, trap_tval
  la a0, s_exectval
  call show

  # ---- store trigger (size any) on var: the store must not happen
  la t0, var
  csrw tdata2, t0
  li t0, TYPE2 | M_STORE
  csrw tdata1, t0
  la t1, var
  li t2, 0x55
store_insn:
  sd t2, 0(t1)
  ld a1, var
  la a0, s_var
  call show
  call show_trap
  la t0, store_insn
  ld a1, trap_epc
  sub a1, a1, t0
  la a0, s_storeepc
  call show
  la t0, var
  ld a1, trap_tval
  sub a1, a1, t0
  la a0, s_storetval
  call show

  # ---- store trigger hit by a byte store at var+7 (size any = 8 bytes)
  la t0, var
  csrw tdata2, t0
  li t0, TYPE2 | M_STORE
  csrw tdata1, t0
  la t1, var
  sb t2, 7(t1)
  call show_trap
  la t0, var
  ld a1, trap_tval
  sub a1, a1, t0
  la a0, s_storetval
  call show

  # ---- load trigger, 4 bytes at var: lw var+4 misses, lw var+2 hits
  la t0, var
  csrw tdata2, t0
  li t0, TYPE2 | M_LOAD | (3 << 16)
  csrw tdata1, t0
  la t1, var
  lw a1, 4(t1)
  call show_trap
  la t1, var
  lw a1, 2(t1)
  call show_trap
  la t0, var
  ld a1, trap_tval
  sub a1, a1, t0
  la a0, s_loadtval
  call show

  # ---- U-only exec trigger does not fire in M
  la t0, here2
  csrw tdata2, t0
  li t0, TYPE2 | 0x0c
  csrw tdata1, t0
here2:
  nop
  call show_trap

  j finish

# show_trap: print the recorded cause (or "none") and clear it
show_trap:
  addi sp, sp, -16
  sd ra, 0(sp)
  ld a1, trap_cause
  la a0, s_cause
  call show
  ld a1, trap_priv
  la a0, s_priv
  call show
  la t0, trap_cause
  li t1, -1
  sd t1, 0(t0)
  sd zero, 8(t0)
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

# show: print string a0, then a1 as 16 hex digits and a newline (puts, puthex and finish
# are test/helpers/firmware.ts's PROBE_LIB, appended to this file)
show:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd a1, 8(sp)
  call puts
  ld a1, 8(sp)
  call puthex
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

.align 4
trap:
  csrrw sp, mscratch, sp
  la sp, trap_stack_top
  sd t0, 0(sp)
  sd t1, 8(sp)
  la t0, trap_cause
  csrr t1, mcause
  sd t1, 0(t0)
  csrr t1, mstatus
  srli t1, t1, 11
  andi t1, t1, 3
  ori t1, t1, 0x10
  sd t1, 8(t0)
  csrr t1, mepc
  sd t1, 16(t0)
  csrr t1, mtval
  sd t1, 24(t0)
  # disarm both triggers
  csrw tselect, zero
  li t1, TYPE2
  csrw tdata1, t1
  li t0, 1
  csrw tselect, t0
  csrw tdata1, t1
  csrw tselect, zero
  # an illegal instruction is skipped; a breakpoint returns to the same instruction, now untriggered
  csrr t1, mcause
  li t0, 2
  bne t1, t0, 1f
  csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
1:
  ld t0, 0(sp)
  ld t1, 8(sp)
  csrrw sp, mscratch, sp
  mret

.data
.align 3
trap_cause: .dword -1
trap_priv: .dword 0
trap_epc: .dword 0
trap_tval: .dword 0
var: .dword 0x1122334455667788
s_tinfo: .asciz "tinfo="
s_tselect: .asciz "tselect="
s_tselect5: .asciz "tselect(after 5)="
s_tselect1: .asciz "tselect(after 1)="
s_tdata1: .asciz "tdata1="
s_tdata2: .asciz "tdata2="
s_tdata3: .asciz "tdata3(after 0x1234)="
s_all: .asciz "tdata1(all bits)="
s_size6: .asciz "tdata1(size6)="
s_size8: .asciz "tdata1(size8)="
s_type6: .asciz "tdata1(type6)="
s_type3: .asciz "tdata1(type3)="
s_type15: .asciz "tdata1(type15)="
s_tcontrol: .asciz "tcontrol="
s_cause: .asciz "trap cause="
s_priv: .asciz "trap from priv="
s_execran: .asciz "exec-trigger a1="
s_execepc: .asciz "exec mepc-here="
s_exectval: .asciz "exec mtval="
s_var: .asciz "var after triggered store="
s_storeepc: .asciz "store mepc-insn="
s_storetval: .asciz "store mtval-var="
s_loadtval: .asciz "load mtval-var="
.align 4
.space 1024
stack_top:
.space 256
trap_stack_top:
