/**
 * Differential test of the translating engine against the interpreter:
 * random instruction sequences (I, M, A, F, D, C, Zicsr, Zifencei, Zba, Zbb, Zbc, Zbs; M, S and U
 * mode; Sv39/Sv48 paging; misaligned and page-crossing accesses; traps from
 * faulting accesses, illegal encodings, ecall/ebreak; code straddling page
 * boundaries) run in a loop long enough for the hot blocks to be translated,
 * once per engine. Both must end in the same architectural state and memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, makeMachine, MARCH_ZB, runGuest, type GuestMachine } from './guest.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Body registers: x1..x24 and x28 are free; x25 = data pointer, x26 = faulting address,
// x27 = loop counter, x29 = trap accumulator, x30/x31 = handler scratch.
const FREE = [...Array.from({ length: 24 }, (_, i) => i + 1), 28];

function program(seed: number, mode: 'M' | 'S' | 'U', sv48: boolean): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const rd = (): string => `x${pick(FREE)}`;
  const rs = (): string => `x${Math.floor(r() * 32)}`;
  const imm12 = (): number => Math.floor(r() * 4096) - 2048;
  const dataOff = (align: number): number => {
    // around the page boundary in the middle of the data area; sometimes misaligned
    const o = Math.floor(r() * 64) - 32;
    return r() < 0.7 ? o & ~(align - 1) : o;
  };
  const lines: string[] = [];
  let label = 0;
  const n = 60 + Math.floor(r() * 80);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.3) {
      lines.push(`${pick(['addi', 'slti', 'sltiu', 'xori', 'ori', 'andi', 'addiw'])} ${rd()}, ${rs()}, ${imm12()}`);
      lines.push(`${pick(['slli', 'srli', 'srai'])} ${rd()}, ${rs()}, ${Math.floor(r() * 64)}`);
      lines.push(`${pick(['slliw', 'srliw', 'sraiw'])} ${rd()}, ${rs()}, ${Math.floor(r() * 32)}`);
      lines.push(pick([
        `${pick(['slli.uw', 'rori', 'bclri', 'bexti', 'binvi', 'bseti'])} ${rd()}, ${rs()}, ${Math.floor(r() * 64)}`,
        `roriw ${rd()}, ${rs()}, ${Math.floor(r() * 32)}`,
        `${pick(['clz', 'ctz', 'cpop', 'clzw', 'ctzw', 'cpopw', 'sext.b', 'sext.h', 'zext.h', 'orc.b', 'rev8'])} ${rd()}, ${rs()}`,
      ]));
    } else if (k < 0.5) {
      const ops = ['add', 'sub', 'sll', 'slt', 'sltu', 'xor', 'srl', 'sra', 'or', 'and', 'addw', 'subw', 'sllw', 'srlw', 'sraw',
        'mul', 'mulh', 'mulhsu', 'mulhu', 'div', 'divu', 'rem', 'remu', 'mulw', 'divw', 'divuw', 'remw', 'remuw',
        'sh1add', 'sh2add', 'sh3add', 'add.uw', 'sh1add.uw', 'sh2add.uw', 'sh3add.uw', 'andn', 'orn', 'xnor', 'max', 'maxu', 'min', 'minu',
        'rol', 'ror', 'rolw', 'rorw', 'clmul', 'clmulh', 'clmulr', 'bclr', 'bext', 'binv', 'bset'];
      lines.push(`${pick(ops)} ${rd()}, ${rs()}, ${rs()}`);
    } else if (k < 0.55) {
      lines.push(`${pick(['lui', 'auipc'])} ${rd()}, ${Math.floor(r() * 0x100000)}`);
      lines.push(`li ${rd()}, ${BigInt.asIntN(64, BigInt(Math.floor(r() * 2 ** 32)) * BigInt(Math.floor(r() * 2 ** 32)))}`);
    } else if (k < 0.68) {
      const op = pick(['lb', 'lh', 'lw', 'ld', 'lbu', 'lhu', 'lwu']);
      const size = { lb: 1, lh: 2, lw: 4, ld: 8, lbu: 1, lhu: 2, lwu: 4 }[op]!;
      lines.push(`${op} ${rd()}, ${dataOff(size)}(x25)`);
    } else if (k < 0.78) {
      const op = pick(['sb', 'sh', 'sw', 'sd']);
      const size = { sb: 1, sh: 2, sw: 4, sd: 8 }[op]!;
      lines.push(`${op} ${rs()}, ${dataOff(size)}(x25)`);
    } else if (k < 0.86) {
      const l = `L${label++}`;
      lines.push(`${pick(['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu'])} ${rs()}, ${rs()}, ${l}`);
      lines.push(`addi ${rd()}, ${rs()}, ${imm12()}`);
      if (r() < 0.5) lines.push(`xor ${rd()}, ${rs()}, ${rs()}`);
      lines.push(`${l}:`);
    } else if (k < 0.88) {
      const l = `L${label++}`;
      lines.push(`jal ${pick(['x0', 'x1', 'x5'])}, ${l}`, `addi ${rd()}, ${rs()}, 1`, `${l}:`);
    } else if (k < 0.91) {
      // faulting accesses (access fault in M, page fault under paging), ecall, ebreak, illegal encodings
      lines.push(
        pick([`ld ${rd()}, 8(x26)`, `sw ${rs()}, 4(x26)`, `lbu ${rd()}, 0(x26)`, 'ecall', 'ebreak', '.word 0xffffffff', '.hword 0', 'csrr x1, 0x7c0']),
      );
    } else if (k < 0.95) {
      const f = (): string => `f${Math.floor(r() * 8)}`;
      lines.push(
        pick([
          `fmv.d.x ${f()}, ${rs()}`,
          `fmv.w.x ${f()}, ${rs()}`,
          `fadd.d ${f()}, ${f()}, ${f()}`,
          `fmul.s ${f()}, ${f()}, ${f()}`,
          `fdiv.d ${f()}, ${f()}, ${f()}`,
          `fcvt.l.d ${rd()}, ${f()}, rtz`,
          `fmv.x.d ${rd()}, ${f()}`,
          `fsd ${f()}, ${dataOff(8)}(x25)`,
          `flw ${f()}, ${dataOff(4)}(x25)`,
        ]),
      );
    } else if (k < 0.97) {
      lines.push(
        pick([
          `amoadd.d ${rd()}, ${rs()}, (x25)`,
          `amoadd.w ${rd()}, ${rs()}, (x25)`,
          `amoswap.w ${rd()}, ${rs()}, (x25)`,
          `amoswap.d ${rd()}, ${rs()}, (x25)`,
          `amoxor.w ${rd()}, ${rs()}, (x25)`,
          `amoand.d ${rd()}, ${rs()}, (x25)`,
          `amoor.w.aqrl ${rd()}, ${rs()}, (x25)`,
          `lr.d ${rd()}, (x25)`,
          `sc.d ${rd()}, ${rs()}, (x25)`,
          `lr.w ${rd()}, (x25)`,
          `sc.w ${rd()}, ${rs()}, (x25)`,
          `amomaxu.w ${rd()}, ${rs()}, (x25)`,
        ]),
      );
    } else if (k < 0.99) {
      lines.push(pick([`rdinstret ${rd()}`, `rdcycle ${rd()}`, `csrrw ${rd()}, fflags, ${rs()}`, 'fence']));
    } else {
      lines.push(mode === 'M' ? `csrr ${rd()}, minstret` : `rdinstret ${rd()}`);
    }
  }
  const pteFlags = 1 | 2 | 4 | 8 | 64 | 128 | (mode === 'U' ? 16 : 0);
  const straddle = 2 + 2 * Math.floor(r() * 20);
  return `
main:
  la t0, handler
  csrw mtvec, t0
  li t0, 0x2000            # FS = Initial
  csrs mstatus, t0
  li t0, 7
  csrw mcounteren, t0
  csrw scounteren, t0
  li x29, 0
  la x25, data + 4096
  li x26, 0x40000000
  li x27, 300
  .if ${mode === 'M' ? 0 : 1}
  # identity map 0x80000000.. (1 GiB leaf at level 2 for Sv39; via a level-3 table for Sv48)
  la t0, root
  la t1, l1
  li t2, 0x80000000
  srli t2, t2, 12
  slli t2, t2, 10
  ori t2, t2, ${pteFlags}
  .if ${sv48 ? 1 : 0}
  sd t2, 16(t1)            # l1[2]: 1 GiB leaf
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, 1
  sd t1, 0(t0)             # root[0] -> l1
  srli t0, t0, 12
  li t1, 9
  slli t1, t1, 60
  .else
  sd t2, 16(t0)
  srli t0, t0, 12
  li t1, 8
  slli t1, t1, 60
  .endif
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li t0, 0x1800
  csrc mstatus, t0
  li t0, ${mode === 'S' ? 0x800 : 0}
  csrs mstatus, t0
  .if ${mode === 'U' ? 1 : 0}
  li t0, 0x40000           # SUM: not needed by U, harmless
  csrs mstatus, t0
  .endif
  la t0, loop
  csrw mepc, t0
  mret
  .endif
  j loop

  .balign 4
handler:
  beqz x27, pass
  csrr t6, mcause
  slli t5, x29, 5
  xor x29, t5, t6
  csrr t6, mtval
  add x29, x29, t6
  csrr t6, mepc
  lhu t5, 0(t6)
  andi t5, t5, 3
  addi t6, t6, 2
  addi t5, t5, -3
  bnez t5, 1f
  addi t6, t6, 2
1:  csrw mepc, t6
  mret

  .balign 4096
  .skip 4096 - ${straddle}
loop:
${lines.join('\n')}
  addi x27, x27, -1
  bnez x27, loop
  ecall

  .balign 4096
root: .zero 4096
l1: .zero 4096
data: .zero 8192
`;
}

function state(m: GuestMachine): Record<string, unknown> {
  const h = m.hart;
  const xs: string[] = [];
  const fs: string[] = [];
  for (let i = 0; i < 32; i++) {
    xs.push(h.getX(i).toString(16));
    fs.push(h.getF(i).toString(16));
  }
  return {
    xs,
    fs,
    pc: h.getPc().toString(16),
    priv: h.priv,
    steps: h.steps,
    instret: h.instret,
    mstatus: h.mstatus,
    mepc: h.mepc,
    mcause: h.mcause,
    mtval: h.mtval,
    fcsr: h.fcsr,
    satp: h.satp,
  };
}

/** The block translator at a threshold of 16 (no regions below it). */
const BLOCKS = { translateThreshold: 16 };
/** Regions from the second entry, then the block translator where a region's label gets hot (64). */
const REGIONS = { translateThreshold: 64, regionThreshold: 2 };
/** Threaded code from the second entry, then the block translator where an entry gets hot (64). */
const THREADED = { translateThreshold: 64, threadThreshold: 2 };

function runBoth(src: string, engine: { translateThreshold: number; regionThreshold?: number; threadThreshold?: number } = BLOCKS): { jit: GuestMachine; interp: GuestMachine } {
  const image = assemble(src, MARCH_ZB);
  const jit = makeMachine(image, 8 << 20, { translate: true, ...engine });
  const interp = makeMachine(image, 8 << 20, { translate: false });
  runGuest(jit, 2_000_000);
  runGuest(interp, 2_000_000);
  return { jit, interp };
}

function assertSame(jit: GuestMachine, interp: GuestMachine, what: string, regions = false, threaded = false): void {
  assert.equal(interp.result(), 0x5555, `${what}: interpreter run did not finish`);
  assert.equal(jit.result(), 0x5555, `${what}: translated run did not finish`);
  assert.deepEqual(state(jit), state(interp), what);
  const a = jit.ram.ramBytes();
  const b = interp.ram.ramBytes();
  assert.equal(Buffer.compare(a, b), 0, `${what}: memory differs`);
  assert.ok((jit.hart.jit?.stats.translated ?? 0) > 0, `${what}: nothing was translated`);
  if (regions) assert.ok((jit.hart.jit?.stats.regions ?? 0) > 0, `${what}: no region was written`);
  if (threaded) assert.ok((jit.hart.jit?.stats.threaded ?? 0) > 0, `${what}: nothing was threaded`);
}

for (const mode of ['M', 'S', 'U'] as const) {
  test(`random programs in ${mode}-mode end in the same state under both engines`, () => {
    for (let seed = 1; seed <= 6; seed++) {
      const sv48 = seed % 2 === 0;
      const src = program(seed * 7919 + mode.charCodeAt(0), mode, sv48);
      const { jit, interp } = runBoth(src);
      assertSame(jit, interp, `${mode}-mode seed ${seed}${sv48 ? ' sv48' : ''}`);
    }
  });
  test(`random programs in ${mode}-mode end in the same state through regions (then blocks) as under the interpreter`, () => {
    for (let seed = 1; seed <= 6; seed++) {
      const sv48 = seed % 2 === 1;
      const src = program(seed * 104729 + mode.charCodeAt(0), mode, sv48);
      const { jit, interp } = runBoth(src, REGIONS);
      assertSame(jit, interp, `regions, ${mode}-mode seed ${seed}${sv48 ? ' sv48' : ''}`, true);
    }
  });
  test(`random programs in ${mode}-mode end in the same state through threaded code (then blocks) as under the interpreter`, () => {
    for (let seed = 1; seed <= 6; seed++) {
      const sv48 = seed % 2 === 1;
      const src = program(seed * 7727 + mode.charCodeAt(0), mode, sv48);
      const { jit, interp } = runBoth(src, THREADED);
      assertSame(jit, interp, `threaded, ${mode}-mode seed ${seed}${sv48 ? ' sv48' : ''}`, false, true);
    }
  });
}
