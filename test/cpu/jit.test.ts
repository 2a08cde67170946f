/**
 * Guest programs for the translating engine: self-modifying code, precise
 * faults in translated blocks (including an instruction straddling into an
 * unmapped page), a timer interrupt inside a translated tight loop, and bad
 * input (jumps into MMIO and into the middle of instructions). Each runs
 * under both engines; the interpreter's final state is the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, assembleFile, describe, makeMachine, runGuest, RAM_BASE, sameState, type GuestMachine } from './guest.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { POLL_STEPS } from '../../src/cpu/riscv/hart.js';
import { translateBlocks } from '../../src/cpu/riscv/jit/codegen.js';
import { MAX_BLOCKS } from '../../src/cpu/riscv/jit/engine.js';
import { rvcTable } from '../../src/cpu/riscv/rvc.js';
import { JC_KICK, ST_JC_EPOCH, ST_LINES, TAG_NOT_IN_MEMORY, TLB_REC } from '../../src/cpu/riscv/state-area.js';
import { TLB_MASK } from '../../src/cpu/riscv/common.js';
import { MIP_MSIP_BIT } from '../../src/hw/intc/clint.js';
import { hartLines } from '../../src/machine/smp/shared-lines.js';
import { hartRealm, SmpShared, W_MIP } from '../../src/machine/smp/shared.js';
import { IRQ_LOOP } from './jit-programs.js';

const RESULT = 0x80300000;


function both(image: Uint8Array, setup?: (m: GuestMachine) => void, maxSteps = 20_000_000): { jit: GuestMachine; interp: GuestMachine } {
  const jit = makeMachine(image, 8 << 20, { translate: true, translateThreshold: 16 });
  const interp = makeMachine(image, 8 << 20, { translate: false });
  for (const m of [jit, interp]) {
    setup?.(m);
    const r = runGuest(m, maxSteps);
    assert.equal(r, 0x5555, describe(r, m));
  }
  return { jit, interp };
}

function u64At(m: GuestMachine, pa: number): bigint {
  return Buffer.from(m.ram.ramBytes().buffer, m.ram.ramBytes().byteOffset + pa - RAM_BASE, 8).readBigUInt64LE();
}

test('self-modifying code: patched hot loops run the new instructions (with and without fence.i)', () => {
  const { jit, interp } = both(assembleFile('jit-smc.S'));
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.translated > 0, 'the loops were translated');
  assert.ok(st.invalidated > 0, 'stores to translated code invalidated it');
  // The page rewritten on every iteration is interpreted after a few invalidations: bounded work and memory.
  assert.ok(st.invalidated <= 64, `invalidations ${st.invalidated}`);
});

test('a fault in the middle of a translated block, and a fetch straddling into an unmapped page, are precise', () => {
  const { jit, interp } = both(assembleFile('jit-fault.S'));
  // The guest checked mepc/mtval itself; the instruction counts at each trap must match the interpreter's.
  for (const off of [0, 8, 16, 24, 32]) assert.equal(u64At(jit, RESULT + off), u64At(interp, RESULT + off), `result word ${off}`);
  sameState(jit, interp);
  assert.ok(jit.hart.jit!.stats.translated > 0);
});

test('a timer interrupt is taken inside a translated tight loop within one quantum', () => {
  const clockFromSteps = (m: GuestMachine): void => {
    Object.defineProperty(m.mtime, 'value', { get: () => m.hart.steps, set: () => {} });
  };
  const { jit, interp } = both(assemble(IRQ_LOOP), clockFromSteps);
  for (const m of [jit, interp]) {
    const t = Number(u64At(m, RESULT));
    assert.ok(t >= 200_000 && t <= 200_000 + POLL_STEPS + 16, `interrupt taken at time ${t}`);
    const sepc = Number(u64At(m, RESULT + 16));
    assert.ok(sepc > RAM_BASE && sepc < RAM_BASE + 0x1000, 'sepc inside the loop');
  }
  assert.ok(jit.hart.jit!.stats.translated > 0);
});

/** A loop of two translated blocks that writes DEV once, at iteration s2; M software interrupts enabled. */
const LINES_LOOP = `
.equ RESULT, 0x80300000
.equ DEV, 0x3000000
main:
  la t0, m_handler
  csrw mtvec, t0
  li t0, 8
  csrs mie, t0             # MSIE
  csrsi mstatus, 8         # MIE
  li s0, 0
  li s2, 2000
  li s3, DEV
loop:
  addi s0, s0, 1
  bne s0, s2, 2f
  sw zero, 0(s3)
2:
  addi s1, s1, 1
  j loop
.balign 4
m_handler:
  csrr t0, mcause
  li t1, (1 << 63) | 3
  bne t0, t1, fail
  li t2, RESULT
  sd s0, 0(t2)
  csrr t0, mepc
  sd t0, 8(t2)
  PASS
`;

test('a line change another thread flags (shared-lines.ts) is taken between translated blocks, not at the quantum end', () => {
  // The device's write does what an IPI from another realm does: the target's shared mip
  // word, its ST_LINES flag and the jump-cache kick bit. The hart copies the word in only
  // through onLines, as a hart realm's syncMip: so the interrupt is taken exactly when the
  // dispatcher looks at the flag.
  const m = makeMachine(assemble(LINES_LOOP), 8 << 20, { translate: true, translateThreshold: 16 });
  const sh = SmpShared.create(2);
  const [lines] = hartLines(sh, 1, [m.hart.state]);
  const mipIdx = sh.w(hartRealm(0), W_MIP);
  let synced = 0;
  m.hart.onLines = (): void => {
    synced++;
    if ((Atomics.load(sh.i32, mipIdx) >>> MIP_MSIP_BIT) & 1) m.hart.setInterruptLevel(MIP_MSIP_BIT, true);
  };
  m.as.root.addSubregion(0x3000000, MemoryRegion.io('ipi', 0x1000, { read: () => 0, write: () => lines!.setInterruptLevel(MIP_MSIP_BIT, true) }));
  // One run() call for the whole program: without the flag the hart would never see the line.
  m.hart.run(POLL_STEPS - 1);
  assert.equal(m.result(), 0x5555, describe(m.result(), m));
  assert.equal(synced, 1);
  // The store is in the middle of its block: the chain went on to the next jump, then left.
  const s0 = Number(u64At(m, RESULT));
  assert.ok(s0 >= 2000 && s0 <= 2001, `taken at iteration ${s0}`);
  assert.ok(m.hart.jit!.stats.translatedSteps > 5_000, 'the loop ran translated');
  // Both blocks in one module, entered from the dispatcher once: they continued into each
  // other by direct tail calls (block-emitter.ts: link), which stop at a kick (JC_KICK in the epoch) as the trampoline does.
  assert.deepEqual([m.hart.jit!.stats.translated, m.hart.jit!.stats.modules, m.hart.jit!.stats.blockCalls], [2, 1, 1]);
  assert.equal(Atomics.load(m.hart.stateI32, ST_JC_EPOCH / 4) & JC_KICK, 0, 'the kick bit is cleared');
  assert.equal(m.hart.stateI32[ST_LINES / 4], 0);
});

test('bad input: jumping into MMIO and into the middle of instructions never crashes', () => {
  const src = `
main:
  la t0, handler
  csrw mtvec, t0
  li s0, 0
  li s1, 400
1:
  # the middle of a 32-bit instruction: its upper half decodes as something else
  la t0, mid
  addi t0, t0, 2
  jalr ra, t0
  addi s1, s1, -1
  bnez s1, 1b
  # MMIO: fetching from a device region runs what it reads (or faults), never crashes
  li t0, ${0x2000000}
  jalr ra, t0
  PASS
.balign 4
handler:
  csrr t0, mcause          # whatever the device returns decodes as (illegal here), or an access fault
  csrw mepc, ra
  addi s0, s0, 1
  mret
.option push
.option norvc
mid:
  lui x0, 0x80820          # upper half: 0x8082 = c.ret
  ret
.option pop
`;
  const { jit, interp } = both(assemble(src));
  sameState(jit, interp);
});

test('bad input: more hot blocks than the code cache holds drop it and run on, the cache bounded', () => {
  // MAX_BLOCKS + 1,000 distinct blocks, each entered three times (hot at the second entry):
  // the cache fills in the second round, is dropped, and fills again. Each block branches
  // backward to the next (laid out in reverse), so that every entry counts before its page
  // has blocks (interp-wasm.ts: jumped).
  const blocks = MAX_BLOCKS + 1000;
  const lines = ['.equ RESULT, 0x80300000', 'main:', '  li s1, 3', '  li a0, 0', '  j round', `b${blocks}:`, '  addi s1, s1, -1', '  bnez s1, round', '  li t0, RESULT', '  sd a0, 0(t0)', '  PASS'];
  for (let b = blocks - 1; b >= 0; b--) lines.push(b === 0 ? 'round:' : `b${b}:`, `  addi a0, a0, ${(b % 2000) + 1}`, `  xori a1, a0, ${b % 1000}`, `  bne s1, zero, b${b + 1}`);
  const image = assemble(lines.join('\n') + '\n');
  const jit = makeMachine(image, 8 << 20, { translate: true, translateThreshold: 2 });
  const interp = makeMachine(image, 8 << 20, { translate: false });
  const flushes = jit.hart.jit!.stats.flushes;
  for (const m of [jit, interp]) {
    const r = runGuest(m, 2_000_000);
    assert.equal(r, 0x5555, describe(r, m));
  }
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.translated > MAX_BLOCKS, `translated ${st.translated}`);
  assert.ok(st.flushes > flushes, 'the full cache was dropped');
  assert.ok(jit.hart.jit!.size <= MAX_BLOCKS, `cached ${jit.hart.jit!.size}`);
});

test('forward code a hot loop leads to is translated, page by page, through the chains that leave for it', () => {
  // 600 blocks, each a taken forward branch to the next (~6 KiB: two pages): before a page has
  // blocks the loop counts only the round's backward branch and the entries of the page moves;
  // the chains that leave translated code for the rest count them from there.
  const blocks = 600;
  const lines = ['main:', '  li s1, 200', '  li a0, 0', 'round:'];
  for (let b = 0; b < blocks; b++) lines.push(`b${b}:`, `  addi a0, a0, ${b + 1}`, `  xori a1, a0, ${b}`, `  bne s1, zero, b${b + 1}`, '  nop');
  lines.push(`b${blocks}:`, '  addi s1, s1, -1', '  bnez s1, round', '  li t0, RESULT', '  sd a0, 0(t0)', '  PASS');
  const { jit, interp } = both(assemble(`.equ RESULT, ${RESULT}\n` + lines.join('\n') + '\n'), undefined, 2_000_000);
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.translated >= blocks, `translated ${st.translated}`);
  // 200 rounds of 1,802 instructions (360,400): all but the first few dozen rounds run translated.
  assert.ok(st.translatedSteps > 250_000, `translated steps ${st.translatedSteps}`);
});

test('warm blocks of a hot block\'s page are compiled in its module, and run as the interpreter does', () => {
  // Entries counted before the page has blocks are backward jumps (interp-wasm.ts: jumped):
  // 2: three iterations in four (hot), 1: the fourth (warm). 3: is 2:'s direct target (a
  // page's first module has those too: engine.ts, translate); 1: is in the module only as warm.
  const src = `main:\n  li s2, 0\n  li s3, 0\n  li s4, 0\n  j 3f\n2:addi s3, s3, 1\n  j 3f\n1:addi s4, s4, 1\n3:addi s2, s2, 1\n  andi t0, s2, 3\n  bnez t0, 2b\n  j 1b`;
  const jit = makeMachine(assemble(src), 8 << 20, { translate: true, translateThreshold: 16 });
  const interp = makeMachine(assemble(src), 8 << 20, { translate: false });
  for (const m of [jit, interp]) m.hart.run(5_000);
  assert.deepEqual([jit.hart.jit!.stats.translated, jit.hart.jit!.stats.modules], [3, 1]);
  assert.ok(jit.hart.jit!.stats.translatedSteps > 4_000);
  sameState(jit, interp);
});

test('LR/SC run inside translated blocks, their reservation shared with the interpreter: success, another word, a changed value, a second SC', () => {
  const N = 3000;
  // Per iteration: an LR.D/SC.D and an LR.W/SC.W that succeed (s5 += 0), and three SCs that
  // fail (s6 += 3): one on another word than the reservation's, one after a store changed the
  // reserved doubleword, one with the reservation already used. dword += 3 + 1, word += 1.
  const src = `main:
  la s1, word
  la s2, dword
  li s3, ${N}
  li s5, 0
  li s6, 0
1:lr.d t0, (s2)
  addi t0, t0, 3
  sc.d t1, t0, (s2)
  add s5, s5, t1
  lr.w t0, (s1)
  addi t0, t0, 1
  sc.w t1, t0, (s1)
  add s5, s5, t1
  lr.d t0, (s2)
  sc.w t1, t0, (s1)
  add s6, s6, t1
  lr.d t0, (s2)
  addi t2, t0, 1
  sd t2, 0(s2)
  sc.d t1, t0, (s2)
  add s6, s6, t1
  sc.d t1, t2, (s2)
  add s6, s6, t1
  addi s3, s3, -1
  bnez s3, 1b
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
2:j 2b
.data
.align 12
dword: .dword 0
word: .word 0`;
  const jit = makeMachine(assemble(src), 8 << 20, { translate: true, translateThreshold: 16 });
  const interp = makeMachine(assemble(src), 8 << 20, { translate: false });
  for (const m of [jit, interp]) {
    const r = runGuest(m, 5_000_000);
    assert.equal(r, 0x5555, describe(r, m));
    assert.equal(m.hart.getX(21), 0n, 's5: every LR/SC pair succeeded');
    assert.equal(m.hart.getX(22), BigInt(3 * N), 's6: every unpaired SC failed');
  }
  assert.ok(jit.hart.jit!.stats.translatedSteps > 20 * (N - 100), 'the loop ran translated');
  // Inline, not through the interpreter one instruction at a time (8 LR/SC an iteration; the
  // data has a page of its own, since stores to a page holding translated code take the slow path).
  assert.ok(jit.hart.interp.exits < N, `interpreter exits ${jit.hart.interp.exits}`);
  sameState(jit, interp);
});

test('a block ends where another block of its page starts, so no code is translated twice', () => {
  // 0: two instructions, then 8: (a branch target) three more ending in a jump.
  const image = assemble(`.option norvc\nmain:\n  addi a0, a0, 1\n  addi a1, a1, 1\n2:addi a2, a2, 1\n  addi a3, a3, 1\n  j 2b`);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // main follows the harness's prelude: find addi a0,a0,1; addi a1,a1,1 (in the image's first page).
  let at = 0;
  while (!(dv.getUint32(at, true) === 0x00150513 && dv.getUint32(at + 4, true) === 0x00158593)) at += 2;
  assert.ok(at + 20 <= 4096);
  const starts = new Uint8Array(2048);
  const alone = translateBlocks(dv, 0, [at], rvcTable(), 0, starts)!;
  assert.deepEqual(alone.blocks, [{ length: 5, bytes: 20 }], 'with no other block, straight on to the jump');
  starts[at >> 1] = 1;
  starts[(at + 8) >> 1] = 1;
  const both = translateBlocks(dv, 0, [at, at + 8], rvcTable(), 0, starts)!;
  assert.deepEqual(both.blocks, [{ length: 2, bytes: 8 }, { length: 3, bytes: 12 }]);

  // A chain of short blocks, each a branch target (the cold-footprint shape), translated at a
  // low threshold, runs as the interpreter does.
  const lines = ['main:', '  la s0, data', '  li s1, 300'];
  lines.push('round:');
  for (let b = 0; b < 60; b++) lines.push(`b${b}:`, `  addi a${b % 6}, a${(b + 1) % 6}, ${b}`, `  ld t3, ${(b % 8) * 8}(s0)`, `  add t0, t0, t3`, `  bne s0, zero, b${b + 1}`, '  nop');
  lines.push('b60:', '  addi s1, s1, -1', '  bnez s1, round', '  li t0, 0x100000', '  li t1, 0x5555', '  sw t1, 0(t0)', '1: j 1b', '.data', 'data: .dword 1, 2, 3, 4, 5, 6, 7, 8');
  const chain = assemble(lines.join('\n'));
  const jit = makeMachine(chain, 8 << 20, { translate: true, translateThreshold: 16 });
  const interp = makeMachine(chain, 8 << 20, { translate: false });
  for (const m of [jit, interp]) runGuest(m, 2_000_000);
  assert.ok(jit.hart.jit!.stats.translated >= 60, `${jit.hart.jit!.stats.translated} blocks translated`);
  sameState(jit, interp);

  // The same chain in odd quanta: blocks of one module continue into each other by direct
  // tail calls (block-emitter.ts: link), and every quantum still ends on its exact instruction.
  const q = makeMachine(chain, 8 << 20, { translate: true, translateThreshold: 16 });
  const qi = makeMachine(chain, 8 << 20, { translate: false });
  for (let end = 997; end < 70_000; end += 997) {
    for (const m of [q, qi]) m.hart.run(end - m.hart.steps);
    assert.equal(q.hart.steps, end);
    assert.equal(q.hart.pc, qi.hart.pc, `pc after ${end} instructions`);
  }
  assert.ok(q.hart.jit!.stats.translatedSteps > 50_000, 'the chain ran translated');
  sameState(q, qi);
});

test('a memory-map change re-checks translated pages: other bytes at the same address run, the same bytes keep their blocks', () => {
  // The guest calls a function at FN over and over; the function lives in a 4 KiB RAM
  // overlay the test swaps under it (no guest store, so only the map change tells).
  const FN = RAM_BASE + 0x10000;
  const m = makeMachine(assemble(`main:\n  li s1, ${FN}\n1:jalr s1\n  mv s2, a0\n  j 1b`), 8 << 20, { translate: true, translateThreshold: 4 });
  const root = m.as.root;
  const overlay = (value: number): MemoryRegion => {
    const r = MemoryRegion.ram(`fn-${value}`, 0x1000);
    const dv = new DataView(r.ramBuffer(), r.ramBytes().byteOffset, 0x1000);
    dv.setUint32(0, (value << 20) | 0x513, true); // li a0, value
    dv.setUint32(4, 0x8067, true); // ret
    return r;
  };
  const one = overlay(1);
  root.addSubregion(FN, one, 1);
  m.hart.run(20_000);
  assert.equal(m.hart.getX(18), 1n);
  const jit = m.hart.jit!;
  assert.ok(jit.stats.translated > 0);
  // Same bytes after a map change (the region disabled and enabled again): blocks survive.
  const before = { ...jit.stats };
  one.setEnabled(false);
  one.setEnabled(true);
  m.hart.run(20_000);
  assert.equal(m.hart.getX(18), 1n);
  assert.equal(jit.stats.invalidated, before.invalidated);
  assert.equal(jit.stats.translated, before.translated);
  // Other bytes at the same physical address: the page's translations go.
  root.removeSubregion(one);
  root.addSubregion(FN, overlay(2), 1);
  m.hart.run(20_000);
  assert.equal(m.hart.getX(18), 2n);
  assert.equal(jit.stats.invalidated, before.invalidated + 1);
});

test('RAM outside the hart state memory: its TLB entries miss in WebAssembly and the JavaScript side serves them, in both engines', () => {
  // A RAM region with its own buffer (as a ROM or flash is) beside RAM in the wasm memory: a hot
  // translated loop loads and stores both. The data TLB entry of the other region's page carries
  // TAG_NOT_IN_MEMORY, so the one-compare probe (jit/tlb-probe.ts) misses there and hits in RAM.
  // Not 0x90000000: CodeSync's slots are page numbers modulo 65,536, and that page's stores
  // would count as stores to the code at 0x80000000 (correct, but nothing would stay translated).
  const OTHER = 0x90005000;
  const DATA = RAM_BASE + 0x100000;
  const src = `
main:
  li s0, ${OTHER}
  li s1, ${DATA}
  li t0, 500
  li a0, 0
1:
  ld t1, 0(s0)
  add a0, a0, t1
  lw t2, 4(s1)
  add a0, a0, t2
  sd a0, 8(s0)
  sw a0, 16(s1)
  addi t0, t0, -1
  bnez t0, 1b
  ld t3, 8(s0)
  bne t3, a0, fail
  PASS
`;
  const other = new Map<GuestMachine, DataView>();
  const setup = (m: GuestMachine): void => {
    const r = MemoryRegion.ram('other', 0x1000);
    const dv = new DataView(r.ramBuffer(), r.ramBytes().byteOffset, 0x1000);
    dv.setBigUint64(0, 3n, true);
    m.ram.ramBytes().set([7, 0, 0, 0], DATA - RAM_BASE + 4);
    m.as.root.addSubregion(OTHER, r);
    other.set(m, dv);
  };
  const { jit, interp } = both(assemble(src), setup);
  sameState(jit, interp);
  assert.equal(jit.hart.getX(10), 500n * 10n);
  for (const m of [jit, interp]) assert.equal(other.get(m)!.getBigUint64(8, true), 5000n);
  assert.ok(jit.hart.jit!.stats.translatedSteps > 2000, 'the loop ran translated');
  const entry = (va: number): number => ((va >>> 12) & TLB_MASK) * (TLB_REC / 4);
  for (const tlb of [jit.hart.rTlb, jit.hart.wTlb]) {
    assert.equal(tlb[entry(OTHER)]! & -4096, OTHER | 0, 'the other page is cached');
    assert.notEqual(tlb[entry(OTHER)]! & TAG_NOT_IN_MEMORY, 0, 'marked: WebAssembly must miss it');
    assert.equal(tlb[entry(DATA)]! & -4096, DATA | 0, 'the RAM page is cached');
    assert.equal(tlb[entry(DATA)]! & TAG_NOT_IN_MEMORY, 0, 'in the memory: WebAssembly hits it');
  }
});

/** Where the guest of hostRewrite and the host meet: a ready word, then fn's address. */
const FLAG = RESULT + 0x100;

/**
 * A guest that calls fn (on a page of its own) 20,000 times, each call followed by `inLoop`
 * and a fence.i, then waits while the host rewrites fn's first instruction to li a0, 2 — a
 * write straight into RAM, as a device's DMA: no hart store path sees it —, runs `before`, a
 * fence.i and fn again, and stores fn's a0 at RESULT; `tail` is more code after fn's page.
 * Runs it under both engines; `atReady` sees each machine at the rewrite point (with its
 * translator's flush count at the start), and the result must be the new code's.
 */
function hostRewrite(inLoop: string, before: string, tail: string, atReady: (m: GuestMachine, flushes: number) => void): GuestMachine[] {
  const src = `
main:
  li s1, ${FLAG}
  la t0, fn
  sd t0, 8(s1)
  li s0, 0
1:call fn
${inLoop}
  addi s0, s0, 1
  fence.i                  # unchanged code: translations survive
  li t0, 20000
  blt s0, t0, 1b
  li t0, 1
  sd t0, 0(s1)             # ready: the host rewrites fn
2:ld t0, 0(s1)
  li t1, 2
  bne t0, t1, 2b
${before}
  fence.i
  call fn
  li t2, ${RESULT}
  sd a0, 0(t2)
  PASS
.balign 4096
fn:
  .word 0x00100513         # li a0, 1
  .word 0x00008067         # ret
${tail}
`;
  return [true, false].map((translate) => {
    const m = makeMachine(assemble(src), 8 << 20, { translate, translateThreshold: 16 });
    const flushes = m.hart.jit?.stats.flushes ?? 0;
    while (u64At(m, FLAG) !== 1n && m.hart.steps < 5_000_000) m.hart.run(10_000);
    assert.equal(u64At(m, FLAG), 1n, 'the guest reached the rewrite point');
    atReady(m, flushes);
    const fn = Number(u64At(m, FLAG + 8)) - RAM_BASE;
    const bytes = m.ram.ramBytes();
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(fn, 0x00200513, true); // li a0, 2
    new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(FLAG - RAM_BASE, 2n, true);
    const r = runGuest(m, 10_000_000);
    assert.equal(r, 0x5555, describe(r, m));
    assert.equal(u64At(m, RESULT), 2n, `${translate ? 'translated' : 'interpreted'}: the rewritten function ran`);
    return m;
  });
}

test('fence.i after a write that bypassed the harts (DMA, host) runs the new code; fence.i alone keeps translations', () => {
  const [jit] = hostRewrite('', '', '', (m, flushes) => {
    const st = m.hart.jit?.stats;
    if (!st) return;
    assert.ok(st.translated > 0);
    assert.equal(st.flushes, flushes, 'fence.i dropped translations');
    assert.equal(st.invalidated, 0);
  });
  assert.ok(jit!.hart.jit!.stats.invalidated >= 1, 'the rewritten page was re-checked and dropped');
});

test('fence.i after a write that bypassed the harts reaches a translated page the jump cache has no current entry for', () => {
  // As above, but between the host's write and the fence.i the guest stores to another
  // translated page (its own code: the jump cache goes stale), so fn's page is re-checked
  // when it is next reached, not through a jump-cache entry made before the write. A fence.i
  // that compared only the jump cache's pages at once (and left the others unchecked) passes
  // the test above and fails this one.
  let invalidated = 0;
  const [jit] = hostRewrite('  call other', `  la t0, other             # a store to other's page: translated code
  lw t1, 0(t0)
  sw t1, 0(t0)`, `.balign 4096
other:
  addi a1, a1, 1
  ret`, (m) => void (invalidated = m.hart.jit?.stats.invalidated ?? 0));
  assert.ok(jit!.hart.jit!.stats.invalidated > invalidated, "fn's page was re-checked and dropped");
});

test('fence.i after a write that bypassed the harts: a jump-cache entry made before it does not enter the stale block', () => {
  // A translated loop calls fn and executes fence.i on every iteration; the host rewrites fn
  // (as a DMA would: no hart store) while the loop runs. Whatever fence.i does to the jump
  // cache (a new epoch today: engine.ts, recheckPages; an entry kept per page was measured and
  // not kept, docs/cpu-performance.md), the loop's call through the trampoline's jump must not
  // enter fn's old block before fn's page was re-checked. Both engines take the write at the
  // same instruction.
  const src = `
main:
  li s0, 0
  li s2, 0
1:call fn
  add s2, s2, a0
  fence.i
  addi s0, s0, 1
  li t0, 40000
  blt s0, t0, 1b
  li t2, ${RESULT}
  sd s2, 0(t2)
  PASS
.balign 4096
fn:
  .word 0x00100513         # li a0, 1
  .word 0x00008067         # ret
`;
  const image = assemble(src);
  const sums = [true, false].map((translate) => {
    const m = makeMachine(image, 8 << 20, { translate, translateThreshold: 16 });
    m.hart.run(150_000);
    const bytes = m.ram.ramBytes();
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    let fn = 4096;
    while (dv.getUint32(fn, true) !== 0x00100513) fn += 4096;
    dv.setUint32(fn, 0x00200513, true); // li a0, 2
    const r = runGuest(m, 10_000_000);
    assert.equal(r, 0x5555, describe(r, m));
    if (translate) {
      assert.ok(m.hart.jit!.stats.translatedSteps > 100_000, 'the loop ran translated');
      assert.ok(m.hart.jit!.stats.invalidated >= 1, "fn's page was re-checked and dropped");
    }
    return u64At(m, RESULT);
  });
  assert.equal(sums[0], sums[1]);
  assert.ok(sums[1]! > 40000n && sums[1]! < 80000n, `both old and new code ran: ${sums[1]}`);
});

test('stores to a device whose page shares a CodeSync slot with a translated RAM page are no stores to code', () => {
  // CodeSync's slots are physical pages modulo CODE_SLOTS: the device at 0x1000 shares its slot
  // with RAM page 0x80001000, where the loop below runs translated. Its stores to the device,
  // from the second round on (after the page became a code page), must neither invalidate the
  // loop's translation nor end each run of it.
  const m = makeMachine(assemble(`
main:
  li s0, 0x1000
  li s1, 20000
  li s2, 0
  j loop
.balign 4096
loop:
  beqz s2, 1f
  sw s1, 0(s0)
1:
  addi s1, s1, -1
  bnez s1, loop
  bnez s2, 2f
  li s2, 1
  li s1, 20000
  j loop
2:
  PASS
`), 8 << 20, { translate: true, translateThreshold: 16 });
  let writes = 0;
  m.as.root.addSubregion(0x1000, MemoryRegion.io('device', 0x1000, { read: () => 0, write: () => void writes++ }));
  assert.equal(runGuest(m), 0x5555);
  assert.equal(writes, 20000);
  const st = m.hart.jit!.stats;
  assert.equal(st.invalidated, 0, "no invalidation of the loop's page");
  assert.ok(st.translatedSteps > 100_000, `${st.translatedSteps} steps translated`);
  // Each device store is a slow path, but none ends the dispatch: far fewer dispatches than stores.
  assert.ok(st.dispatches < 2_000, `${st.dispatches} dispatches`);
});
