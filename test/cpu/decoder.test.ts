/**
 * The decoder (src/cpu/riscv/disasm.ts, which mirrors what the hart accepts)
 * agrees with riscv64-unknown-elf-objdump (rv64gc with Zba, Zbb, Zbc and Zbs, as QEMU 7.2's
 * rv64 CPU: the code goes into an object assembled for that ISA) on validity and
 * mnemonic for a large random sample of 32-bit encodings and every 16-bit one,
 * and on the full operand text for the integer instructions. The hart itself
 * raises illegal instruction exactly for the encodings the decoder rejects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../../src/cpu/riscv/disasm.js';
import { expandCompressed } from '../../src/cpu/riscv/rvc.js';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { xorshift32 as rng } from '../helpers/rng.js';

interface ObjLine {
  addr: number;
  valid: boolean;
  mnemonic: string;
  operands: string;
}

function objdump(bytes: Uint8Array): Map<number, ObjLine> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-objdump-'));
  try {
    const f = join(dir, 'code.bin');
    writeFileSync(f, bytes);
    // objdump takes the ISA from the object's attributes (a raw binary is rv64gc to it).
    writeFileSync(join(dir, 'empty.s'), '.text\n');
    execFileSync('riscv64-unknown-elf-as', ['-march=rv64gc_zba_zbb_zbc_zbs', '-o', join(dir, 'base.o'), join(dir, 'empty.s')]);
    execFileSync('riscv64-unknown-elf-objcopy', ['--update-section', `.text=${f}`, join(dir, 'base.o'), join(dir, 'code.o')]);
    const out = execFileSync(
      'riscv64-unknown-elf-objdump',
      ['-d', '-M', 'no-aliases,numeric', join(dir, 'code.o')],
      { maxBuffer: 64 << 20 },
    ).toString();
    const m = new Map<number, ObjLine>();
    for (const line of out.split('\n')) {
      const r = /^\s*([0-9a-f]+):\t[0-9a-f]+\s+\t(\S+)\s*(.*)$/.exec(line);
      if (!r) continue;
      const mnemonic = r[2]!;
      const valid = !mnemonic.startsWith('.') && mnemonic !== 'c.unimp';
      m.set(parseInt(r[1]!, 16), { addr: parseInt(r[1]!, 16), valid, mnemonic, operands: r[3]!.replace(/\s*#.*$/, '').trim() });
    }
    return m;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const C_BASE: Record<string, string> = {
  'c.addi4spn': 'addi', 'c.fld': 'fld', 'c.lw': 'lw', 'c.ld': 'ld', 'c.fsd': 'fsd', 'c.sw': 'sw', 'c.sd': 'sd',
  'c.nop': 'addi', 'c.addi': 'addi', 'c.addiw': 'addiw', 'c.li': 'addi', 'c.addi16sp': 'addi', 'c.lui': 'lui',
  'c.srli': 'srli', 'c.srai': 'srai', 'c.andi': 'andi', 'c.sub': 'sub', 'c.xor': 'xor', 'c.or': 'or', 'c.and': 'and',
  'c.subw': 'subw', 'c.addw': 'addw', 'c.j': 'jal', 'c.beqz': 'beq', 'c.bnez': 'bne', 'c.slli': 'slli',
  'c.fldsp': 'fld', 'c.lwsp': 'lw', 'c.ldsp': 'ld', 'c.jr': 'jalr', 'c.mv': 'add', 'c.ebreak': 'ebreak',
  'c.jalr': 'jalr', 'c.add': 'add', 'c.fsdsp': 'fsd', 'c.swsp': 'sw', 'c.sdsp': 'sd',
  'c.slli64': 'slli', 'c.srli64': 'srli', 'c.srai64': 'srai',
};

/**
 * Where the hart deliberately differs from objdump's notion of validity:
 * - FENCE / FENCE.I with non-zero reserved fields execute (QEMU ignores those fields);
 * - reserved rounding modes (objdump prints `unknown`) raise illegal instruction when executed.
 */
function objdumpValidity(w: number, o: ObjLine): boolean {
  const op = w & 0x7f;
  const f3 = (w >>> 12) & 7;
  if (op === 0x0f && (f3 === 0 || f3 === 1)) return true;
  if (o.valid && /(^|,)unknown$/.test(o.operands)) return false;
  return o.valid;
}

/** objdump spells a few base mnemonics differently from the decoder's canonical name. */
function normalise(m: string): string {
  if (m === 'fence.tso') return 'fence';
  return m;
}

test('32-bit encodings: validity and mnemonic agree with objdump', () => {
  const next = rng(0x5eed);
  const n = 40000;
  const words = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let w = next();
    // Bias towards the opcodes the hart implements so every major group is well sampled.
    const ops = [0x03, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x47, 0x4b, 0x4f, 0x53, 0x63, 0x67, 0x6f, 0x73];
    if (i % 4 !== 0) w = (w & ~0x7f) | ops[next() % ops.length]!;
    else w |= 3;
    if ((w & 0x1c) === 0x1c) w &= ~0x10; // avoid 48-bit and longer length encodings
    words[i] = w >>> 0;
  }
  const listing = objdump(new Uint8Array(words.buffer));
  const mismatches: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = words[i]!;
    const o = listing.get(i * 4);
    assert.ok(o, `objdump line for word ${i}`);
    const d = decode(w | 0);
    const valid = objdumpValidity(w, o);
    if ((d !== null) !== valid || (d !== null && o.valid && d.mnemonic !== normalise(o.mnemonic))) {
      mismatches.push(`${w.toString(16).padStart(8, '0')}: objdump '${o.mnemonic} ${o.operands}' decoder '${d?.text ?? 'illegal'}'`);
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), []);
});

test('integer operands agree with objdump', () => {
  const next = rng(42);
  const ops = [0x03, 0x13, 0x1b, 0x23, 0x33, 0x3b, 0x37, 0x17, 0x67];
  const n = 10000;
  const words = new Uint32Array(n);
  for (let i = 0; i < n; i++) words[i] = ((next() & ~0x7f) | ops[next() % ops.length]!) >>> 0;
  const listing = objdump(new Uint8Array(words.buffer));
  const mismatches: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = decode(words[i]! | 0);
    const o = listing.get(i * 4)!;
    if (d === null || !o.valid) continue;
    const text = `${o.mnemonic}\t${o.operands}`;
    if (d.text !== text) mismatches.push(`${words[i]!.toString(16)}: objdump '${text}' decoder '${d.text}'`);
  }
  assert.deepEqual(mismatches.slice(0, 20), []);
});

test('every 16-bit parcel: validity and expansion agree with objdump', () => {
  const parcels = new Uint16Array(49152);
  let k = 0;
  for (let h = 0; h < 65536; h++) if ((h & 3) !== 3) parcels[k++] = h;
  const listing = objdump(new Uint8Array(parcels.buffer));
  const mismatches: string[] = [];
  for (let i = 0; i < k; i++) {
    const h = parcels[i]!;
    const o = listing.get(i * 2)!;
    const e = expandCompressed(h);
    const d = e === 0 ? null : decode(e);
    const expect = C_BASE[o.mnemonic];
    // c.addi16sp with a zero immediate is reserved; QEMU 7.2 treats it as illegal, objdump prints it.
    const valid = o.valid && h !== 0x6101;
    if ((d !== null) !== valid || (d !== null && d.mnemonic !== expect)) {
      mismatches.push(`${h.toString(16).padStart(4, '0')}: objdump '${o.mnemonic} ${o.operands}' expansion '${d?.text ?? 'illegal'}'`);
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), []);
});

test('the hart raises illegal instruction exactly for encodings the decoder rejects', () => {
  const root = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 1 << 16);
  root.addSubregion(0x80000000, ram);
  const as = new AddressSpace(root, 'memory');
  const hart = new Hart({ hartId: 0, mem: as, timeSource: () => 0 });
  const bytes = ram.ramBytes();
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const next = rng(7);
  for (let i = 0; i < 5000; i++) {
    let w = next() | 3;
    if ((w & 0x1c) === 0x1c) w &= ~0x10;
    // CSR accesses depend on which CSRs exist (covered by asm/csr.S), not on the encoding.
    if ((w & 0x7f) === 0x73 && ((w >>> 12) & 7) !== 0) continue;
    hart.reset(0x80000000);
    hart.mstatus = 0x6000; // FS dirty so FP encodings are judged by their fields
    hart.mtvec = 0x80008000n;
    hart.setX(1, 0x80004000n);
    dv.setInt32(0, w, true);
    hart.run(1);
    const illegal = hart.mcause === 2n && hart.pc === 0x80008000;
    assert.equal(illegal, decode(w) === null, `word ${(w >>> 0).toString(16)} (${decode(w)?.text ?? 'illegal'})`);
  }
});
