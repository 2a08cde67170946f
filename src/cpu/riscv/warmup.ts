/**
 * Type-feedback warm-up of the execution engines, once per realm (main thread
 * or hart worker), before a hart's first translation.
 *
 * Why: V8 optimises the JavaScript the engines run per exit of the
 * interpreter loop (interp.ts: the loop's exits, `execOther`, the slow paths)
 * and the translator's dispatcher as soon as they are hot, with the type
 * feedback gathered so far. A guest reaches many paths only later (its first
 * CSR access, its first misaligned `ld`, ...); each one found no feedback in
 * the optimised code, which then deoptimised ("insufficient type feedback"),
 * ran in V8's bytecode interpreter until hot again and was recompiled. When
 * the interpreter loop itself was JavaScript this happened 9-11 times during
 * a U-Boot boot, ~80 ms of compiler CPU each. Running a short program that
 * takes every path once gives V8 complete feedback at the first optimisation.
 *
 * When: before a hart's first translation (Translator.beforeFirstTranslation),
 * and only then. The interpreter's JavaScript side alone no longer needs it
 * since the loop is WebAssembly (which has no type feedback): with every
 * process pinned to one CPU, 10 alternated runs each, U-Boot to its prompt
 * with `jit=off` took 208.6 ms of CPU without any warm-up against 210.8 with
 * the interpreter's at start, and a start that powers off at once 53.3 against
 * 57.1 ms; with translation, the interpreter's part run before the first
 * translation instead of at start: 243.0 against 246.3 ms (Linux to a shell,
 * `-smp 1`: 7.48 against 7.91 s, 3 pairs). The translator's part paid then: without
 * it 270.8 ms (V8's compiles on the other threads 61.9 against 45.6 ms).
 *
 * The program runs on a private hart over a private 64 KiB RAM (the real
 * memory core classes and, like the machine's, one WebAssembly memory with
 * the hart's state area, so the feedback has the production shapes) and
 * touches nothing shared: its own CodeSync, its own TLBs. One hart: the
 * translator's dispatcher interpreting the whole program (its loop in the
 * dispatcher's mode, the dispatcher, the slow paths), without compiling a
 * block. Two more harts ran it until V8 optimised JavaScript on the thread
 * that runs it (bin/v8-flags.cjs: --no-concurrent-recompilation): the
 * interpreter alone, and the translator compiling and running the program's
 * first blocks. Since, without them, U-Boot to its prompt 221.2 -> 211.6 ms of
 * CPU (16 alternated runs, pinned; the dispatcher alone, 1 to 3 passes:
 * 219-222 against 230 ms with all three in another round; none at all: 249
 * ms), Linux to a shell unchanged (`-smp 1` 7.05 / 6.92 s wall, 4 pairs;
 * `-smp 2` 6.93 / 6.90 s, 3 pairs; deoptimisations 36 / 38, optimisations
 * 128 / 132): the translator's paths get their feedback from the guest's first
 * translations.
 *
 * Data shapes matter as much: a field that changes representation later
 * (a small integer that becomes a double) changes its object's map, and
 * every function optimised for the old map deoptimises ("wrong map"); such
 * fields start as doubles (hart.ts, address-space.ts).
 */
import { AddressSpace } from '../../memory/address-space.js';
import { allocateGuestRam } from '../../memory/guest-ram.js';
import { MemoryRegion } from '../../memory/region.js';
import { MSTATUS_FS } from './constants.js';
import type { Hart, HartOptions } from './hart.js';
import { CodeSync } from './jit/code-sync.js';
import { HART_STATE_BYTES, ST_LINES, stateAreasIn } from './state-area.js';

const RAM_BASE = 0x80000000;
const RAM_SIZE = 0x10000;
/** Code starts just below a page end, so fetches cross a page. */
const CODE = RAM_BASE + 0x0f80;
const HANDLER = RAM_BASE + 0x3000;
/** A lone `ret` on the handler's page, called from the program. */
const RET_STUB = HANDLER + 0x100;
/** A fence in the last word of the handler's page, a `ret` after it on the next page. */
const FENCE_STUB = HANDLER + 0xffc;
const DATA = RAM_BASE + 0x5000;
/** Nothing is mapped here: loads, stores and AMOs fault (and the handler skips them). */
const UNMAPPED = 0x1000;
/**
 * A device whose accesses change the hart's interrupt lines (read raises MEIP, write lowers
 * it; nothing is enabled, so no trap): the loads and stores that leave the interpreter loop
 * after their slow path, as a PLIC claim or a device raising its line does.
 */
const IRQ_DEV = 0x10000000;
/** A ROM device whose mode the IRQ device's writes flip. */
const FLASH_DEV = 0x20000000;
/** What its reads return: a word with the top bit set, as device registers often are. */
const IRQ_DEV_VALUE = 0xfffffff0;
const MIP_MEIP_BIT = 11;
/**
 * An Sv39 root table: one 1 GiB page maps the RAM (identity); below it, through two more
 * levels, only SMALL_VA -> DATA, a 4 KiB page whose A and D bits start clear every pass.
 */
const ROOT = RAM_BASE + 0x8000;
const L1 = RAM_BASE + 0x9000;
const L0 = RAM_BASE + 0xa000;
const SMALL_VA = 0x200000;
/** The RAM again at RAM_BASE + U_ALIAS, as a user page (root[3]): where the program visits U-mode. */
const U_ALIAS = 0x40000000;
/** Where the program finds its satp value (x2-relative). */
const SATP_OFF = 0x7f0;

const PASSES = 3;
/**
 * The warm-up harts count steps from here: past 2^31, where every guest gets within seconds.
 * V8 keeps a field's representation per object map, so a step counter that outgrows small
 * integers there first makes it a double for every hart built later; when that happened
 * ~2 G instructions into a guest, its map change deoptimised all code optimised against harts
 * at once. (Likewise IRQ_DEV_VALUE for the results of device reads.) The warm-up harts'
 * translator counters start there too.
 */
const STEPS_BASE = 2 ** 32;
const SFENCE_VMA = 0x12000073;
/** Where the hart's first run of a pass ends (its loop's exit on the step count). */
const QUANTUM_SPLIT = 100;
/** From the program's first word (an auipc) to a word on the next page. */
const SMC_OFFSET = 0x100;
/** Never reached: the dispatching hart interprets every instruction in the translator's mode. */
const NEVER = 0x7fffffff;
let warm = false;

// Encoders (RISC-V base formats).
const R = (op: number, rd: number, f3: number, rs1: number, rs2: number, f7: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const I = (op: number, rd: number, f3: number, rs1: number, imm: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const S = (f3: number, rs1: number, rs2: number, imm: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23) >>> 0;
const B = (f3: number, rs1: number, rs2: number, imm: number): number =>
  ((((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) | (((imm >> 11) & 1) << 7) | 0x63) >>> 0;
const U = (op: number, rd: number, imm20: number): number => ((imm20 << 12) | (rd << 7) | op) >>> 0;
const J = (rd: number, imm: number): number =>
  ((((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3ff) << 21) | (((imm >> 11) & 1) << 20) | (((imm >> 12) & 0xff) << 12) |
    (rd << 7) | 0x6f) >>> 0;

/**
 * Registers: x2 data, x3 data + 4092 (accesses crossing a page), x4 unmapped, x8 data + 64;
 * values in x5-x7 and x24-x31 (VALUES).
 */
const A = 5;
const Bv = 6;
const VALUES: readonly (readonly [number, bigint])[] = [
  [5, 0x0123456789abcdefn],
  [6, 0xfedcba9876543210n],
  [7, 7n],
  [24, 45n],
  [25, 32n],
  [26, 0xffffffff80000001n],
  [27, 0xffffffff00000003n],
  [28, 0x7fffffffffffffffn],
  [29, 0xfffffffffffffff9n],
  [30, 3n],
  [31, 0xffffffffn],
];
/** Operand pairs (register numbers) for two-operand instructions; shift-amount registers. */
const PAIRS: readonly (readonly [number, number])[] = [
  [5, 6], [6, 5], [5, 5], [26, 27], [27, 26], [28, 29], [29, 30], [31, 30], [30, 0], [31, 31],
];
const SHIFTS = [0, 7, 24, 25];

/** The warm-up program as parcels (32-bit words, or 16-bit compressed parcels tagged by a -1 entry before them). */
function program(): { code: number[]; handler: number[] } {
  const w: number[] = [];
  // A store into a page of the program's code (rewriting a word with its own value). x18 is
  // free until the JALR test below.
  w.push(U(0x17, 18, 0), I(0x03, 19, 2, 18, SMC_OFFSET), S(2, 18, 19, SMC_OFFSET));
  // OP-IMM: every funct3 with both immediate signs, shifts by 0, < 32, 32 and > 32, rd = x0 too.
  for (const rs1 of [5, 29, 31])
    for (const rd of [22, 0])
      for (const f3 of [0, 2, 3, 4, 6, 7]) for (const imm of [-5, 0x7f3]) w.push(I(0x13, rd, f3, rs1, imm));
  for (const rs1 of [5, 29])
    for (const sh of [0, 9, 32, 40]) w.push(I(0x13, 23, 1, rs1, sh), I(0x13, 23, 5, rs1, sh), I(0x13, 23, 5, rs1, 0x400 | sh));
  // The first page's last word: a taken branch to the next instruction, on the next page (a
  // branch the dispatcher must see, as it leaves the page).
  w.splice((0x1000 - (CODE & 0xfff)) / 4 - 1, 0, B(0, 0, 0, 4));
  // OP (base and M), OP-32, branches: every funct3 over operand pairs that take each path
  // (carries and borrows, equal and different high halves, signs, zero divisors).
  for (const [a, b] of PAIRS) {
    for (const f3 of [0, 2, 3, 4, 6, 7]) w.push(R(0x33, 10, f3, a, b, 0), R(0x33, 12, f3, a, b, 1));
    w.push(R(0x33, 11, 0, a, b, 0x20), R(0x33, 12, 1, a, b, 1), R(0x33, 12, 5, a, b, 1));
    for (const [f3, f7] of [[0, 0], [0, 0x20], [0, 1], [4, 1], [5, 1], [6, 1], [7, 1]] as const) w.push(R(0x3b, 16, f3, a, b, f7));
    for (const f3 of [0, 1, 4, 5, 6, 7]) w.push(B(f3, a, b, 4));
  }
  for (const a of [5, 29])
    for (const sh of SHIFTS) {
      w.push(R(0x33, 10, 1, a, sh, 0), R(0x33, 10, 5, a, sh, 0), R(0x33, 10, 5, a, sh, 0x20));
      w.push(R(0x3b, 16, 1, a, sh, 0), R(0x3b, 16, 5, a, sh, 0), R(0x3b, 16, 5, a, sh, 0x20));
    }
  w.push(R(0x33, 0, 0, 5, 6, 0));
  // LUI, AUIPC, OP-IMM-32, OP-32 (with M).
  w.push(U(0x37, 13, 0x80001), U(0x37, 0, 5), U(0x17, 14, 0x7ffff), U(0x17, 0, 1));
  for (const rs1 of [5, 29])
    for (const sh of [0, 3, 31]) w.push(I(0x1b, 15, 0, rs1, -3), I(0x1b, 15, 1, rs1, sh), I(0x1b, 15, 5, rs1, sh), I(0x1b, 15, 5, rs1, 0x400 | sh));
  // Loads and stores: every size, aligned and misaligned, each twice (TLB miss, then hit),
  // at the end of a page (slow path) and crossing it.
  for (let pass = 0; pass < 2; pass++) {
    for (const f3 of [0, 1, 2, 3, 4, 5, 6]) w.push(I(0x03, 17, f3, 2, 8), I(0x03, 17, f3, 2, 1), I(0x03, 0, f3, 2, 16));
    for (const f3 of [0, 1, 2, 3]) w.push(S(f3, 2, A, 24), S(f3, 2, Bv, 33));
  }
  w.push(I(0x03, 17, 3, 3, 0), I(0x03, 17, 2, 3, 0), S(3, 3, A, 0), S(2, 3, A, 0));
  // Every size through the slow paths: sfence.vma empties the TLBs before each access.
  for (const f3 of [0, 1, 2, 3, 4, 5, 6]) w.push(SFENCE_VMA, I(0x03, 17, f3, 2, 8));
  for (const f3 of [0, 1, 2, 3]) w.push(SFENCE_VMA, S(f3, 2, A, 24));
  w.push(SFENCE_VMA, I(0x03, 17, 3, 2, 1), SFENCE_VMA, S(3, 2, A, 33));
  // Branches, taken and not, all to the next instruction; JAL and JALR likewise.
  w.push(J(1, 4), J(0, 4), U(0x17, 18, 0), I(0x67, 1, 0, 18, 8), U(0x17, 18, 0), I(0x67, 0, 0, 18, 8));
  // A call to another page and the return from it (jumps the dispatcher must see).
  const d = RET_STUB - (CODE + 4 * w.length);
  const hi20 = (d + 0x800) >> 12;
  w.push(U(0x17, 18, hi20), I(0x67, 1, 0, 18, d - (hi20 << 12)));
  // A jal to another page, where an out-of-line instruction falls through onto a third: in
  // the dispatcher's mode both leave the page.
  w.push(J(1, FENCE_STUB - (CODE + 4 * w.length)));
  // The Sstc comparator enabled (menvcfg.STCE) and due (stimecmp 0; the STIP it raises is
  // not enabled in mie): interrupt checks read it.
  w.push(I(0x13, 19, 0, 0, 1), I(0x13, 19, 1, 19, 63), I(0x73, 0, 2, 19, 0x30a), I(0x73, 0, 1, 0, 0x14d));
  // Device accesses that end the loop (IRQ_DEV), x9 = its address: a load into a register and
  // into x0, a store.
  w.push(U(0x37, 9, IRQ_DEV >>> 12), I(0x03, 17, 2, 9, 0), I(0x03, 0, 2, 9, 0), S(2, 9, A, 0));
  // Out of line: CSRs, fences, AMOs, LR/SC, FP.
  w.push(I(0x73, 19, 2, 0, 0x340), I(0x73, 0, 1, A, 0x340), I(0x73, 19, 6, 3, 0x340), I(0x73, 19, 2, 0, 0xc01));
  w.push(I(0x0f, 0, 0, 0, 0x0ff), 0x0100000f /* pause */, 0x0000100f /* fence.i */);
  w.push(R(0x2f, 20, 2, 2, A, 0), R(0x2f, 20, 3, 2, A, 0x04), R(0x2f, 20, 3, 2, 0, 0x08), R(0x2f, 20, 3, 2, A, 0x0c));
  w.push(R(0x53, 1, 0, A, 0, 0x79), R(0x53, 2, 7, 1, 1, 0x01), R(0x53, 20, 0, 2, 0, 0x71));
  // The rest in S-mode under Sv39, as Linux runs: page walks and fills (the planted faults
  // below become page faults), a translation-context switch (SUM on and off), an
  // address-specific sfence.vma, S-mode CSRs. x9: PMP entry 0 (all of memory RWX, as firmware
  // sets it), satp, the mret target (the word after the mret), mstatus.MPP = S (U after the
  // handler's mret), sstatus.SUM.
  w.push(I(0x13, 9, 0, 0, -1), I(0x73, 0, 1, 9, 0x3b0), I(0x13, 9, 0, 0, 0x1f), I(0x73, 0, 1, 9, 0x3a0));
  w.push(I(0x03, 9, 3, 2, SATP_OFF), I(0x73, 0, 1, 9, 0x180), SFENCE_VMA);
  w.push(U(0x17, 9, 0), I(0x13, 9, 0, 9, 28), I(0x73, 0, 1, 9, 0x341));
  w.push(I(0x13, 9, 0, 0, 1), I(0x13, 9, 1, 9, 11), I(0x73, 0, 2, 9, 0x300), 0x30200073 /* mret */);
  for (let pass = 0; pass < 2; pass++) w.push(I(0x03, 17, 3, 2, 8), I(0x03, 17, 3, 2, 1), S(3, 2, A, 24), S(2, 2, A, 33));
  // A three-level walk setting A (the load), then D (the store); that page's own sfence.vma.
  w.push(U(0x37, 9, SMALL_VA >>> 12), I(0x03, 17, 3, 9, 0), S(3, 9, A, 8), SFENCE_VMA | (9 << 15), I(0x03, 17, 3, 9, 8));
  // A visit to U-mode, running at the RAM's user alias (U_ALIAS): a load from a supervisor
  // page (a permission fault, skipped), a load and a store through the alias, then ecall,
  // which the handler turns into a return to S at x9 (the word after the visit).
  w.push(U(0x17, 9, 0), I(0x13, 9, 0, 9, 64), U(0x17, 17, 0), I(0x13, 17, 0, 17, 32), U(0x37, 18, U_ALIAS >>> 12));
  w.push(R(0x33, 17, 0, 17, 18, 0), I(0x73, 0, 1, 17, 0x141), I(0x13, 18, 0, 0, 0x100), I(0x73, 0, 3, 18, 0x100), 0x10200073 /* sret */);
  w.push(I(0x03, 17, 3, 2, 0), U(0x37, 18, U_ALIAS >>> 12), R(0x33, 18, 0, 18, 2, 0), I(0x03, 17, 3, 18, 0), S(3, 18, A, 8), 0x00000073 /* ecall */);
  w.push(I(0x13, 9, 0, 0, 1), I(0x13, 9, 1, 9, 18), I(0x73, 0, 2, 9, 0x100), I(0x03, 17, 3, 2, 16), I(0x73, 0, 3, 9, 0x100));
  w.push(SFENCE_VMA | (2 << 15), I(0x03, 17, 3, 2, 8), I(0x73, 17, 2, 0, 0x100), I(0x73, 17, 2, 0, 0x180), I(0x73, 0, 1, 17, 0x140));
  // Compressed: c.addi, c.li, c.mv, c.add, c.lw/c.sw/c.ld/c.sd via x8, c.j +2, c.nop.
  const c: number[] = [0x0505, 0x4681, 0x86aa, 0x96aa, 0x4008, 0xc048, 0x6408, 0xe808, 0xa009, 0x0001];
  // Traps (the handler skips the instruction): illegal encodings the loop itself rejects,
  // faulting loads/stores/AMOs, ecall, ebreak.
  const t: number[] = [
    I(0x13, 9, 1, A, 0x800),
    R(0x33, 9, 0, A, Bv, 0x40),
    I(0x03, 9, 7, 2, 0),
    S(4, 2, A, 0),
    B(2, A, Bv, 4),
    I(0x67, 0, 1, 18, 0),
    I(0x1b, 9, 1, A, 0x400),
    R(0x3b, 9, 2, A, Bv, 0),
    I(0x03, 9, 3, 4, 0),
    S(3, 4, A, 0),
    R(0x2f, 20, 3, 4, A, 0),
    0x00000073,
    0x00100073,
    0xffffffff,
  ];
  const code = [...w, ...c.map((p) => -1 - p), ...t, 0x10500073 /* wfi: nothing enabled, run() returns */];
  // Handler: mepc += 4; an ecall from U returns to S at x9 instead; mret.
  const handler = [
    I(0x73, 21, 2, 0, 0x341),
    I(0x13, 21, 0, 21, 4),
    I(0x73, 0, 1, 21, 0x341),
    I(0x73, 21, 2, 0, 0x342),
    I(0x13, 21, 0, 21, -8),
    B(1, 21, 0, 20),
    I(0x73, 0, 1, 9, 0x341),
    I(0x13, 21, 0, 0, 1),
    I(0x13, 21, 1, 21, 11),
    I(0x73, 0, 2, 21, 0x300),
    0x30200073,
  ];
  return { code, handler };
}

const PTE_V = 1;
const PTE_R = 2;
const PTE_W = 4;
const PTE_X = 8;
const PTE_U = 16;
const PTE_A = 64;
const PTE_D = 128;
/** A page-table entry for physical address pa. */
const pte = (pa: number, flags: number): bigint => (BigInt(Math.floor(pa / 4096)) << 10n) | BigInt(flags);

function store(bytes: Uint8Array, at: number, parcels: number[]): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let a = at - RAM_BASE;
  for (const p of parcels) {
    if (p < 0) {
      dv.setUint16(a, -1 - p, true);
      a += 2;
    } else {
      dv.setUint32(a, p, true);
      a += 4;
    }
  }
}

/** No-op pause hooks for the warm-up's harts (warmUp says why two). */
const PAUSE_HOOKS: readonly ((wfi: boolean) => void)[] = [(): void => {}, (): void => {}];
/** Likewise for the lines hook (Hart.onLines), which hart realms set. */
const LINES_HOOKS: readonly (() => void)[] = [(): void => {}, (): void => {}];

/**
 * Warm up the interpreter and the translator, once per realm, a few milliseconds. A hart
 * asks for it before its first translation (hart.ts), so a process whose guest code never
 * gets hot, or that does not translate, does without it.
 */
export function warmUp(make: (o: HartOptions) => Hart): WarmUpRun[] {
  const runs: WarmUpRun[] = [];
  if (warm) return runs;
  warm = true;
  const root = MemoryRegion.container('warm-up', 2 ** 40);
  // RAM and state areas in one WebAssembly memory, as the machine has them: translated code
  // takes its direct RAM paths, and V8 sees the views' real shapes.
  const backing = allocateGuestRam(RAM_SIZE, HART_STATE_BYTES);
  const [area] = stateAreasIn(backing, 1);
  const ram = MemoryRegion.ram('warm-up-ram', RAM_SIZE, { buffer: backing.buffer });
  root.addSubregion(RAM_BASE, ram);
  let current: Hart | null = null;
  const irq = MemoryRegion.io('warm-up-irq', 0x1000, {
    read: () => {
      current?.setInterruptLevel(MIP_MEIP_BIT, true);
      // As another realm flags a line change (shared-lines.ts): the dispatcher takes it at
      // its next look (between blocks, or on entering a page).
      if (current !== null) Atomics.store(current.stateI32, ST_LINES / 4, 1);
      return IRQ_DEV_VALUE;
    },
    write: () => {
      current?.setInterruptLevel(MIP_MEIP_BIT, false);
      // A store that changes the memory map, as a flash's command writes switch it between
      // ROM and command mode (U-Boot probes its flash so): the store path then drops the TLBs.
      romd = !romd;
      flash.setRomdMode(romd);
    },
    valid: { min: 4, max: 4 },
    impl: { min: 4, max: 4 },
  });
  root.addSubregion(IRQ_DEV, irq);
  let romd = true;
  const flash = MemoryRegion.romDevice('warm-up-flash', 0x1000, { read: () => 0, write: () => {} });
  root.addSubregion(FLASH_DEV, flash);
  const mem = new AddressSpace(root, 'warm-up');
  const { code, handler } = program();
  store(ram.ramBytes(), CODE, code);
  store(ram.ramBytes(), HANDLER, handler);
  store(ram.ramBytes(), RET_STUB, [I(0x67, 0, 0, 1, 0)]);
  store(ram.ramBytes(), FENCE_STUB, [I(0x0f, 0, 0, 0, 0x0ff), I(0x67, 0, 0, 1, 0)]);
  // Sv39: root[2] = a 1 GiB RWX page at 0x80000000 (V R W X A D); satp = mode 8 | root's PPN.
  const ramDv = new DataView(ram.ramBytes().buffer, ram.ramBytes().byteOffset);
  ramDv.setBigUint64(ROOT - RAM_BASE + 16, pte(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D), true);
  ramDv.setBigUint64(ROOT - RAM_BASE, pte(L1, PTE_V), true);
  ramDv.setBigUint64(ROOT - RAM_BASE + 8 * ((RAM_BASE + U_ALIAS) / 2 ** 30), pte(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D), true);
  ramDv.setBigUint64(L1 - RAM_BASE + 8 * (SMALL_VA >>> 21), pte(L0, PTE_V), true);
  ramDv.setBigUint64(DATA + SATP_OFF - RAM_BASE, (8n << 60n) | BigInt(ROOT / 4096), true);
  // The dispatcher's interpreted paths over the whole program (jumps returning to the
  // dispatcher, fence.i's recheck), without compiling a block.
  const h = make({ hartId: 0, mem, timeSource: () => 0, codeSync: CodeSync.allocate(), translate: true, translateThreshold: NEVER, state: area });
  current = h;
  h.steps = STEPS_BASE;
  // The translator's unbounded counters likewise (its stats objects share one map).
  const st = h.jit!.stats;
  st.translatedSteps = st.dispatches = st.blockCalls = st.interpCalls = STEPS_BASE;
  // Several passes: V8 records feedback only once a function has run for a while (lazy
  // feedback allocation), so the first pass may leave nothing behind.
  for (let pass = 0; pass < PASSES; pass++) {
    h.reset(CODE);
    h.mtvec = BigInt(HANDLER);
    h.mstatus |= MSTATUS_FS;
    h.setX(2, BigInt(DATA));
    h.setX(3, BigInt(DATA + 4092));
    h.setX(4, BigInt(UNMAPPED));
    h.setX(8, BigInt(DATA + 64));
    for (const [r, v] of VALUES) h.setX(r, v);
    // Hart realms set a pause hook (hart-realm.ts); the main realm leaves it null. Without
    // feedback for that call, a hart realm's first `pause` deoptimised the function it is
    // inlined in, which V8 then compiled twice more. Hooks of two different functions
    // make the call site megamorphic: a plain call, right for either realm's hook.
    h.onPause = PAUSE_HOOKS[pass % 2]!;
    h.onLines = LINES_HOOKS[pass % 2]!;
    ramDv.setBigUint64(L0 - RAM_BASE, pte(DATA, PTE_V | PTE_R | PTE_W), true);
    // Two runs: the first ends on its step count (as every quantum does), not at the wfi.
    h.run(QUANTUM_SPLIT);
    h.run(5000);
    runs.push({ steps: h.steps - STEPS_BASE, trapped: h.trapped, waiting: h.waiting, pc: h.pc });
  }
  // Unregister the private address space (`info mtree` lists the live ones).
  mem.destroy();
  return runs;
}

/** One pass of the warm-up program (what tests check: it ran to its final wfi). */
export interface WarmUpRun {
  /** Steps run by the hart in all passes so far. */
  steps: number;
  trapped: number;
  waiting: boolean;
  pc: number;
}

/** The end of the warm-up program (pc after its final wfi), for tests. */
export function warmUpEnd(): number {
  const { code } = program();
  return CODE + code.reduce((n, p) => n + (p < 0 ? 2 : 4), 0);
}

/** Whether this realm has warmed up (tests). */
export function warmedUp(): boolean {
  return warm;
}

/** Forget that this realm was warmed up (tests only: the next warmUp() runs again). */
export function resetWarmUp(): void {
  warm = false;
}
