/**
 * Test support: assemble guest programs with Debian's riscv64-unknown-elf
 * binutils (cached by content hash under os.tmpdir()), load them into RAM of a
 * real AddressSpace at 0x80000000, and run a Hart until the program writes
 * the finisher (0x5555 = pass, (code << 16) | 0x3333 = fail).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FINISHER, IRQCTL, makeMachine, RAM_BASE, type GuestMachine } from './guest-machine.js';
export { FINISHER, IRQCTL, makeMachine, RAM_BASE, type GuestMachine };
export const MARCH = 'rv64imafdc_zicsr_zifencei_zihintpause';
/** MARCH with the bit-manipulation extensions (tests of them assemble with it). */
export const MARCH_ZB = `${MARCH}_zba_zbb_zbc_zbs`;

const asmDir = fileURLToPath(new URL('./asm/', import.meta.url));

/** Macros every program gets: gp counts checks; `fail` reports gp as the failure code. */
const PRELUDE = `
.equ FINISHER, ${FINISHER}
.equ IRQCTL, ${IRQCTL}
.macro CHECK reg, val
  addi gp, gp, 1
  li t4, \\val
  bne \\reg, t4, fail
.endm
.macro PASS
  j pass
.endm
# Expect \\insn (run in the current mode) to trap to M with mcause \\cause and mtval \\va: the
# program's M-mode handler checks mcause against s3 and mtval against s5, then resumes at s4.
.macro EXPECT_FAULT cause, va, insn
  li s3, \\cause
  li s5, \\va
  la s4, 77f
  \\insn
  j fail
77:
.endm
# In that handler, with mcause in t1: fail unless this is the announced fault, else resume
# after it (mepc = s4; the caller returns with mret).
.macro EXPECTED_FAULT
  addi gp, gp, 1
  bne t1, s3, fail
  csrr t1, mtval
  addi gp, gp, 1
  bne t1, s5, fail
  csrw mepc, s4
.endm
# Paging tests: PTE bits; \\dst = a PTE for the physical address in \\pa with \\flags
.equ PTE_V, 1
.equ PTE_R, 2
.equ PTE_W, 4
.equ PTE_X, 8
.equ PTE_U, 16
.equ PTE_A, 64
.equ PTE_D, 128
.macro MKPTE dst, pa, flags
  srli \\dst, \\pa, 12
  slli \\dst, \\dst, 10
  ori \\dst, \\dst, \\flags
.endm
# An Sv39 root at \\root: [2] = a 1 GiB RWX identity page for 0x80000000 (code, data, page
# tables), [1] -> \\l1; leaves s0 = \\root
.macro SV39_ROOT root, l1
  la s0, \\root
  li a0, 0x80000000
  MKPTE t0, a0, PTE_V|PTE_R|PTE_W|PTE_X|PTE_A|PTE_D
  sd t0, 16(s0)
  la a0, \\l1
  MKPTE t0, a0, PTE_V
  sd t0, 8(s0)
.endm
# satp = Sv39 with \\root, then sfence.vma
.macro SV39_ON root
  la a0, \\root
  srli a0, a0, 12
  li t0, 8 << 60
  or a0, a0, t0
  csrw satp, a0
  sfence.vma
.endm
# mret to \\label in S-mode
.macro TO_S label
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  la t0, \\label
  csrw mepc, t0
  mret
.endm
.text
.globl _start
_start:
  li gp, 0
  la t5, unexpected_trap
  csrw mtvec, t5
  li t5, -1
  csrw pmpaddr0, t5
  li t5, 0x1f
  csrw pmpcfg0, t5
  j main
.align 2
.globl unexpected_trap
unexpected_trap:
  csrr t6, mcause
  li t5, 0x8000
  or t6, t6, t5
  slli t6, t6, 16
  li t5, 0x3333
  or t6, t6, t5
  li t5, FINISHER
  sw t6, 0(t5)
1: j 1b
.globl fail
fail:
  slli t6, gp, 16
  li t5, 0x3333
  or t6, t6, t5
  li t5, FINISHER
  sw t6, 0(t5)
1: j 1b
.globl pass
pass:
  li t6, 0x5555
  li t5, FINISHER
  sw t6, 0(t5)
1: j 1b
.text
`;

export function assemble(source: string, march = MARCH): Uint8Array {
  // The assembler warns about a last line without its newline; inline sources often end so.
  const text = PRELUDE + source + (source.endsWith('\n') ? '' : '\n');
  const hash = createHash('sha256').update('v4').update(march).update('\0').update(text).digest('hex').slice(0, 32);
  const dir = join(tmpdir(), 'tsvmm-asm-cache');
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, `${hash}.bin`);
  if (!existsSync(bin)) {
    const base = join(dir, `${hash}.${process.pid}`);
    writeFileSync(`${base}.S`, text);
    execFileSync('riscv64-unknown-elf-as', [`-march=${march}`, '-mabi=lp64', '-o', `${base}.o`, `${base}.S`]);
    execFileSync('riscv64-unknown-elf-ld', ['--no-relax', '-Ttext=0x80000000', '-e', '_start', '-o', `${base}.elf`, `${base}.o`]);
    execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', `${base}.elf`, `${base}.bin`]);
    renameSync(`${base}.bin`, bin);
  }
  return new Uint8Array(readFileSync(bin));
}

export function assembleFile(name: string): Uint8Array {
  return assemble(readFileSync(join(asmDir, name), 'utf8'));
}

/** Run until the finisher is written (or the step limit); returns the finisher word (0 if never written). */
export function runGuest(m: GuestMachine, maxSteps = 5_000_000): number {
  while (m.result() === 0 && m.hart.steps < maxSteps) {
    const n = m.hart.run(100_000);
    if (n === 0 && m.hart.waiting) {
      // Nothing will wake it: advance time to let a timer fire, else stop.
      const d = m.hart.nextTimerDeadline();
      if (d === Infinity) break;
      m.mtime.value = Math.max(m.mtime.value, d);
    }
  }
  return m.result();
}

/** The two machines ended in the same architectural state: registers, counts and memory. */
export function sameState(a: GuestMachine, b: GuestMachine): void {
  for (let i = 0; i < 32; i++) assert.equal(a.hart.getX(i), b.hart.getX(i), `x${i}`);
  assert.equal(a.hart.steps, b.hart.steps, 'steps');
  assert.equal(a.hart.instret, b.hart.instret, 'instret');
  assert.equal(Buffer.compare(a.ram.ramBytes(), b.ram.ramBytes()), 0, 'memory');
}

export function describe(code: number, m: GuestMachine): string {
  if (code === 0x5555) return 'pass';
  if ((code & 0xffff) === 0x3333 && code & 0x80000000)
    return `unexpected trap cause ${(code >>> 16) & 0x7fff} mepc=0x${m.hart.mepc.toString(16)} mtval=0x${m.hart.mtval.toString(16)}`;
  if ((code & 0xffff) === 0x3333) return `fail at check #${code >>> 16} (pc=0x${m.hart.getPc().toString(16)})`;
  return `no result (0x${code.toString(16)}) after ${m.hart.steps} steps, pc=0x${m.hart.getPc().toString(16)} mcause=${m.hart.mcause} mepc=0x${m.hart.mepc.toString(16)}`;
}

/** Hart options of an engine a test compares with the interpreter (guest-machine.ts: makeMachine). */
export type EngineOptions = NonNullable<Parameters<typeof makeMachine>[2]>;

/**
 * `image` run to its finisher on a hart with `engine` and on one interpreting (each after
 * `setup`); both must pass. Returns the two machines, for their state to be compared.
 */
export function againstInterpreter(image: Uint8Array, engine: EngineOptions, setup?: (m: GuestMachine) => void): { jit: GuestMachine; interp: GuestMachine } {
  const jit = makeMachine(image, 8 << 20, engine);
  const interp = makeMachine(image, 8 << 20, { translate: false });
  for (const m of [jit, interp]) {
    setup?.(m);
    const r = runGuest(m, 20_000_000);
    assert.equal(r, 0x5555, describe(r, m));
  }
  return { jit, interp };
}

/** The little-endian u64 at guest physical address `pa` (in RAM). */
export function u64At(m: GuestMachine, pa: number): bigint {
  return Buffer.from(m.ram.ramBytes().buffer, m.ram.ramBytes().byteOffset + pa - RAM_BASE, 8).readBigUInt64LE();
}
