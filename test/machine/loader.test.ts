import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import {
  LoaderError,
  fdtLoadAddr,
  initrdLoadAddr,
  kernelStartAddr,
  loadImage,
  parseElf64,
  readImageFile,
  type GuestWriter,
} from '../../src/machine/loader.js';
import { nodeHost } from '../../src/host/node.js';

class FakeRam implements GuestWriter {
  readonly bytes: Uint8Array;
  constructor(readonly base: number, size: number) {
    this.bytes = new Uint8Array(size);
  }
  writeRam(addr: number, data: Uint8Array): boolean {
    if (addr < this.base || addr + data.length > this.base + this.bytes.length) return false;
    this.bytes.set(data, addr - this.base);
    return true;
  }
  zeroRam(addr: number, len: number): boolean {
    if (addr < this.base || addr + len > this.base + this.bytes.length) return false;
    this.bytes.fill(0, addr - this.base, addr - this.base + len);
    return true;
  }
}

/** A minimal ELF64 with one PT_LOAD segment (filesz < memsz). */
function makeElf(paddr: number, entry: number, payload: number[], memsz: number, machine = 243): Uint8Array {
  const b = new Uint8Array(64 + 56 + payload.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, machine, true);
  dv.setBigUint64(24, BigInt(entry), true);
  dv.setBigUint64(32, 64n, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, 1, true);
  dv.setUint32(64, 1, true);
  dv.setBigUint64(64 + 8, 120n, true);
  dv.setBigUint64(64 + 16, BigInt(paddr), true);
  dv.setBigUint64(64 + 24, BigInt(paddr), true);
  dv.setBigUint64(64 + 32, BigInt(payload.length), true);
  dv.setBigUint64(64 + 40, BigInt(memsz), true);
  b.set(payload, 120);
  return b;
}

test('ELF segments land at p_paddr, bss is zeroed, entry comes from the header', () => {
  const ram = new FakeRam(0x80000000, 0x10000);
  ram.bytes.fill(0xee);
  const img = loadImage(ram, makeElf(0x80001000, 0x80001004, [1, 2, 3, 4], 16), 0x80000000, 'bios');
  assert.deepEqual(img, { entry: 0x80001004, start: 0x80001000, end: 0x80001010, elf: true });
  assert.deepEqual([...ram.bytes.subarray(0x1000, 0x1012)], [1, 2, 3, 4, ...new Array(12).fill(0), 0xee, 0xee]);
});

test('raw images load at the given address', () => {
  const ram = new FakeRam(0x80000000, 0x1000);
  const img = loadImage(ram, Uint8Array.from([9, 8, 7]), 0x80000010, 'kernel');
  assert.equal(img.entry, 0x80000010);
  assert.equal(img.end, 0x80000013);
  assert.deepEqual([...ram.bytes.subarray(0x10, 0x13)], [9, 8, 7]);
});

test('bad input: wrong machine, truncated headers, segments outside RAM, missing files', () => {
  const ram = new FakeRam(0x80000000, 0x1000);
  assert.throws(() => parseElf64(makeElf(0x80000000, 0, [1], 1, 62)), /not RISC-V/);
  assert.throws(() => parseElf64(makeElf(0x80000000, 0, [1], 1).subarray(0, 40)), LoaderError);
  assert.throws(() => loadImage(ram, makeElf(0x90000000, 0, [1], 1), 0x80000000, 'bios'), /does not fit in guest RAM/);
  assert.throws(() => loadImage(ram, new Uint8Array(0x2000), 0x80000000, 'bios'), /do not fit/);
  assert.throws(() => readImageFile(nodeHost.files, '/nonexistent/fw.bin', 'firmware'), /could not load firmware '\/nonexistent\/fw.bin': No such file or directory/);
});

test("QEMU's placement rules: kernel after firmware, DTB below RAM end, initrd", () => {
  assert.equal(kernelStartAddr(0x80000000 + 288 * 1024), 0x80200000);
  assert.equal(fdtLoadAddr(0x80000000, 256 * 1024 * 1024, 0x100000), 0x8fe00000);
  assert.equal(fdtLoadAddr(0x80000000, 4 * 1024 * 1024 * 1024, 0x100000), 0xbfe00000);
  assert.equal(initrdLoadAddr(0x80200000, 512 * 1024 * 1024), 0x88200000);
  assert.equal(initrdLoadAddr(0x80200000, 128 * 1024 * 1024), 0x84200000);
});

test("Debian's OpenSBI fw_jump.elf parses with its load address and entry", () => {
  const p = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf';
  assert.ok(existsSync(p), 'opensbi is installed');
  const elf = parseElf64(readFileSync(p), p);
  assert.equal(elf.entry, 0x80000000);
  assert.equal(elf.segments[0]!.paddr, 0x80000000);
});
