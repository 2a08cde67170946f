import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { checkInitrd, checkKernelImage, ImageCheckError } from '../../src/machine/linux-image.js';

/** A minimal EFI-stub RISC-V Image: Linux header, PE header, one .text section. */
function efiImage(size: number, sectionEnd: number): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set([0x4d, 0x5a], 0); // MZ
  b.set(new TextEncoder().encode('RISCV\0\0\0RSC\x05'), 0x30);
  dv.setUint32(0x3c, 0x40, true);
  b.set(new TextEncoder().encode('PE\0\0'), 0x40);
  dv.setUint16(0x40 + 6, 1, true); // one section
  dv.setUint16(0x40 + 20, 0, true); // no optional header (enough for the check)
  const s = 0x40 + 24;
  b.set(new TextEncoder().encode('.text\0\0\0'), s);
  dv.setUint32(s + 16, sectionEnd - 0x1000, true);
  dv.setUint32(s + 20, 0x1000, true);
  return b;
}

function newc(files: [string, string][]): Uint8Array {
  const parts: string[] = [];
  const entry = (name: string, data: string): void => {
    const hex = (n: number): string => n.toString(16).padStart(8, '0');
    let h = '070701' + [1, 0o100644, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0].map(hex).join('') + name + '\0';
    while (h.length % 4) h += '\0';
    let d = data;
    while (d.length % 4) d += '\0';
    parts.push(h + d);
  };
  for (const [n, d] of files) entry(n, d);
  entry('TRAILER!!!', '');
  return new Uint8Array(Buffer.from(parts.join(''), 'latin1'));
}

test('kernel images: whole RISC-V EFI images pass; truncated and foreign ones are named', () => {
  checkKernelImage(efiImage(0x3000, 0x3000), 'k');
  assert.throws(() => checkKernelImage(efiImage(0x2000, 0x3000), 'k'), (e: Error) => e instanceof ImageCheckError && /k: truncated .*\.text/.test(e.message));
  assert.throws(() => checkKernelImage(efiImage(0x3000, 0x3000).subarray(0, 0x50), 'k'), /truncated .*PE header/);
  const arm = efiImage(0x3000, 0x3000);
  arm.set(new TextEncoder().encode('ARM\x64'), 0x38);
  assert.throws(() => checkKernelImage(arm, 'k'), /arm64/);
  const x86 = new Uint8Array(0x400);
  x86.set(new TextEncoder().encode('HdrS'), 0x202);
  assert.throws(() => checkKernelImage(x86, 'k'), /x86/);
  // unknown raw images are accepted, as QEMU loads them
  checkKernelImage(new Uint8Array(100).fill(0x13), 'raw');
});

test('initramfs: gzip and cpio must be complete', () => {
  const cpio = newc([['init', '#!/bin/sh\necho hi\n'], ['bin/x', 'y']]);
  checkInitrd(cpio, 'i');
  checkInitrd(gzipSync(cpio), 'i');
  assert.throws(() => checkInitrd(cpio.subarray(0, cpio.length - 130), 'i'), /truncated cpio/);
  const gz = gzipSync(cpio);
  assert.throws(() => checkInitrd(gz.subarray(0, gz.length - 10), 'i'), /truncated or corrupt gzip/);
  assert.throws(() => checkInitrd(gzipSync(cpio.subarray(0, 60)), 'i'), /truncated cpio/);
  checkInitrd(new Uint8Array([1, 2, 3]), 'opaque');
  // A gzip bomb (64 MiB of zeros in ~64 KiB) is refused by size, not inflated into host memory.
  assert.throws(() => checkInitrd(gzipSync(new Uint8Array(64 << 20)), 'bomb', 16 << 20), /bomb: unpacks to more than 16777216 bytes/);
  // programs must be RISC-V (e_type EXEC/DYN, e_machine 243)
  const elf = (machine: number, type = 2): string => '\x7fELF' + '\x02\x01\x01' + '\0'.repeat(9) + String.fromCharCode(type, 0, machine & 0xff, machine >> 8) + '\0'.repeat(44);
  checkInitrd(gzipSync(newc([['bin/busybox', elf(243)], ['lib/modules/x.ko', elf(243, 1)], ['lib/firmware/gpu.bin', elf(62)]])), 'i');
  assert.throws(() => checkInitrd(gzipSync(newc([['init', '#!/bin/sh'], ['bin/busybox', elf(62)]])), 'i'), /i: 'bin\/busybox' is a program for x86-64, not RISC-V/);
  assert.throws(() => checkInitrd(newc([['bin/sh', elf(183, 3)]]), 'i'), /arm64/);
});
