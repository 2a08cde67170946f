import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HartDebug, debugTranslate } from '../../src/cpu/riscv/debug.js';
import { MSTATUS_MPRV, PRV_M, PRV_S } from '../../src/cpu/riscv/constants.js';
import { assemble, makeMachine, RAM_BASE } from './guest.js';

/** Address of the first instruction word `insn` in the image (programs mark spots with unique `li`s). */
function addrOf(image: Uint8Array, insn: number): bigint {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let i = 0; i + 4 <= image.length; i += 2) if (dv.getUint32(i, true) === insn >>> 0) return BigInt(RAM_BASE + i);
  throw new Error(`instruction ${insn.toString(16)} not found`);
}

const LI_A0_0X123 = 0x12300513; // addi a0, zero, 0x123
const LI_A2_0X456 = 0x45600613; // addi a2, zero, 0x456

const PROGRAM = `
.option norvc
main:
  la t0, var
  li a0, 0x123
  sd a0, 0(t0)
  li a2, 0x456
  ld a1, 0(t0)
  PASS
.data
.align 3
var: .dword 0
`;

test('software and hardware breakpoints stop before the instruction; a step runs exactly one', () => {
  const image = assemble(PROGRAM);
  const m = makeMachine(image);
  const d = HartDebug.of(m.hart);
  const stops: string[] = [];
  d.onStop = (x) => stops.push(x.stop!.kind);
  assert.equal(m.hart.debug, null, 'nothing armed: full speed');
  const bp = addrOf(image, LI_A0_0X123);
  assert.ok(d.insertBreak(bp, false));
  assert.equal(m.hart.debug, d);
  m.hart.run(100_000);
  assert.equal(m.hart.getPc(), bp);
  assert.equal(m.hart.getX(10), 0n, 'the instruction at the breakpoint has not run');
  assert.deepEqual(stops, ['breakpoint']);
  // Step from the breakpoint: one instruction, the breakpoint is not hit again on the way out.
  const before = m.hart.steps;
  d.resume(true);
  m.hart.run(100_000);
  assert.equal(m.hart.steps - before, 1);
  assert.equal(m.hart.getPc(), bp + 4n);
  assert.equal(m.hart.getX(10), 0x123n);
  assert.deepEqual(stops, ['breakpoint', 'step']);
  // A hardware breakpoint further on.
  assert.ok(d.removeBreak(bp, false));
  const hw = addrOf(image, LI_A2_0X456);
  assert.ok(d.insertBreak(hw, true));
  d.resume(false);
  m.hart.run(100_000);
  assert.equal(m.hart.getPc(), hw);
  assert.equal(d.stop?.kind, 'breakpoint');
  d.clear();
  assert.equal(m.hart.debug, null);
  m.hart.run(100_000);
  assert.equal(m.result(), 0x5555);
});

test('watchpoints stop before the load or store that hits them (as QEMU 7.2 reports them); resuming performs it', () => {
  const image = assemble(PROGRAM);
  const m = makeMachine(image);
  const d = HartDebug.of(m.hart);
  // Run to the instruction before the store and read var's address from t0.
  const li = addrOf(image, LI_A0_0X123);
  const store = li + 4n;
  d.insertBreak(li, false);
  m.hart.run(100_000);
  const varAddr = m.hart.getX(5);
  d.removeBreak(li, false);
  assert.ok(d.insertWatch(varAddr + 4n, 4, 'write'), 'overlapping the doubleword store');
  assert.ok(d.insertWatch(varAddr, 8, 'read'));
  d.resume(false);
  m.hart.run(100_000);
  assert.equal(m.hart.getPc(), store, 'stopped at the store');
  assert.deepEqual(d.stop, { kind: 'watch', access: 'watch', addr: varAddr + 4n });
  assert.equal(m.ram.ramBytes()[Number(varAddr) - RAM_BASE], 0, 'the store has not happened');
  // Resuming executes the store (the watchpoint at the resume address is stepped over).
  d.resume(false);
  m.hart.run(100_000);
  assert.equal(m.ram.ramBytes()[Number(varAddr) - RAM_BASE], 0x23, 'the store happened');
  assert.deepEqual(d.stop, { kind: 'watch', access: 'rwatch', addr: varAddr });
  assert.equal(m.hart.getPc(), store + 8n, 'stopped at the load (after li a2)');
  assert.equal(m.hart.getX(11), 0n, 'the load has not run');
  d.resume(true);
  m.hart.run(100_000);
  assert.equal(m.hart.getX(11), 0x123n, 'the load completed');
  assert.ok(d.removeWatch(varAddr, 8, 'read'));
  assert.ok(!d.removeWatch(varAddr, 8, 'read'));
  d.clear();
  m.hart.run(100_000);
  assert.equal(m.result(), 0x5555);
});

test('debugTranslate walks Sv39 like the hart, without setting A/D bits or faulting', () => {
  const m = makeMachine(assemble('main:\n  PASS\n'));
  const h = m.hart;
  const ram = m.ram.ramBytes();
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const root = 0x10000;
  const mid = 0x11000;
  const leaf = 0x12000;
  const page = 0x20000;
  const pte = (pa: number, flags: number): bigint => (BigInt(RAM_BASE + pa) >> 12n << 10n) | BigInt(flags);
  // VA 0x40201000 -> RAM_BASE + page (V R W, A and D clear); VA 0x40201000 + 1 page unmapped.
  dv.setBigUint64(root + 1 * 8, pte(mid, 1), true);
  dv.setBigUint64(mid + 1 * 8, pte(leaf, 1), true);
  dv.setBigUint64(leaf + 1 * 8, pte(page, 0x7), true);
  // A 2 MiB megapage at VA 0x40400000 -> RAM_BASE (R X).
  dv.setBigUint64(mid + 2 * 8, pte(0, 0xb), true);
  h.satp = (8n << 60n) | BigInt((RAM_BASE + root) / 4096);
  h.priv = PRV_S;
  assert.equal(debugTranslate(h, 0x40201abcn), RAM_BASE + page + 0xabc);
  assert.equal(debugTranslate(h, 0x40202000n), -1);
  assert.equal(debugTranslate(h, 0x40412345n), RAM_BASE + 0x12345);
  assert.equal(debugTranslate(h, 0x0000004000000000n), -1, 'not sign-extended from bit 38');
  assert.equal(dv.getBigUint64(leaf + 8, true), pte(page, 0x7), 'no A/D update');
  // M-mode is physical, unless MPRV borrows S-mode translation for data.
  h.priv = PRV_M;
  assert.equal(debugTranslate(h, 0x40201abcn), 0x40201abc);
  h.mstatus |= MSTATUS_MPRV | (PRV_S << 11);
  assert.equal(debugTranslate(h, 0x40201abcn), RAM_BASE + page + 0xabc);
});

test('resuming from a breakpoint at a translated block runs on: the debugger steps never hand the instruction back', () => {
  const image = assemble(`
.option norvc
main:
  li t0, 0
loop:
  li a2, 0x456
  addi t0, t0, 1
  j loop
`);
  const m = makeMachine(image, 1 << 20, { translate: true, translateThreshold: 16 });
  m.hart.run(10_000);
  assert.ok(m.hart.jit!.stats.translated > 0, 'the loop is translated');
  const d = HartDebug.of(m.hart);
  const bp = addrOf(image, LI_A2_0X456);
  assert.ok(d.insertBreak(bp, false));
  m.hart.run(100_000);
  assert.equal(m.hart.getPc(), bp);
  // Continue with nothing armed: the hooks switch off after the first step, inside the debugger's loop.
  assert.ok(d.removeBreak(bp, false));
  d.resume(false);
  const before = m.hart.steps;
  assert.equal(m.hart.run(10_000), 10_000);
  assert.equal(m.hart.steps - before, 10_000);
  assert.equal(m.hart.debug, null);
});
