import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfiFlash, FlashError } from '../../../src/hw/block/cfi-flash.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';
import { fuzzRegion, rd, wr } from '../misc/helpers.js';

const BASE = 0x20000000;
const MiB = 1024 * 1024;

// Address spaces stay registered (and re-render on every romd toggle) until destroyed.
const spaces: AddressSpace[] = [];
afterEach(() => {
  for (const as of spaces.splice(0)) as.destroy();
});

function machine(opts: Partial<ConstructorParameters<typeof CfiFlash>[0]> = {}) {
  const root = MemoryRegion.container('system', 2 ** 40);
  const flash = new CfiFlash({ name: 'virt.flash0', ...opts });
  root.addSubregion(BASE, flash.mr);
  const as = new AddressSpace(root, 'memory');
  spaces.push(as);
  const load = (addr: number, size: number) => {
    assert.equal(as.load(addr, size, MEMTXATTRS_UNSPECIFIED), MEMTX_OK);
    return as.valLo >>> 0;
  };
  const store = (addr: number, size: number, v: number) => {
    assert.equal(as.store(addr, size, v >>> 0, 0, MEMTXATTRS_UNSPECIFIED), MEMTX_OK);
  };
  return { flash, as, load, store };
}

/** U-Boot's flash_make_cmd: the command byte in each chip's low lane across the port. */
function makeCmd(cmd: number, portwidth: number, chipwidth: number): number {
  let v = 0;
  for (let i = 0; i < portwidth; i++) if (i % chipwidth === 0) v |= cmd << (8 * i);
  return v >>> 0;
}

/**
 * A model of U-Boot 2023.01's CFI probe (drivers/mtd/cfi_flash.c): port width 1..4, chip width x8..port,
 * each first without and then with the address shift for chips wired with their LSB at A1 (chip_lsb).
 */
function ubootProbe(m: ReturnType<typeof machine>) {
  for (let pw = 1; pw <= 4; pw <<= 1) {
    for (let cw = 1; cw <= pw; cw <<= 1) {
      for (const lsb of [0, 1]) {
        const addr = (off: number) => BASE + ((off * pw) << lsb);
        for (const qryAdr of [0x55, 0x555]) {
          m.store(addr(0), pw, makeCmd(0xf0, pw, cw));
          m.store(addr(0), pw, makeCmd(0xff, pw, cw));
          m.store(addr(qryAdr), pw, makeCmd(0x98, pw, cw));
          const ok = [0x51, 0x52, 0x59].every((c, i) => m.load(addr(0x10 + i), pw) === makeCmd(c, pw, cw));
          if (!ok) continue;
          const byte = (off: number) => m.load(addr(off), 1); // flash_read_uchar, little-endian
          const devSize = byte(0x27);
          const regions = byte(0x2c);
          const blocks = (byte(0x2d) | (byte(0x2e) << 8)) + 1;
          const blockSize = (byte(0x2f) | (byte(0x30) << 8)) * 256 * (pw / cw);
          const cmdset = byte(0x13) | (byte(0x14) << 8);
          const size = 2 ** devSize * (pw / cw);
          // Intel command set: read manufacturer/device ID.
          m.store(addr(0), pw, makeCmd(0xff, pw, cw));
          m.store(addr(0), pw, makeCmd(0x90, pw, cw));
          const manuf = byte(0);
          const dev = byte(1);
          m.store(addr(0), pw, makeCmd(0xff, pw, cw));
          return { pw, cw, lsb, size, regions, blocks, blockSize, cmdset, manuf, dev };
        }
      }
    }
  }
  return null;
}

test('cfi-flash: romd device of 32 MiB named like QEMU', () => {
  const { flash } = machine();
  assert.equal(flash.mr.name, 'virt.flash0');
  assert.equal(flash.mr.size, 32 * MiB);
  assert.equal(flash.mr.typeName(), 'romd');
});

test('cfi-flash: unbacked flash reads as zeros (QEMU 7.2)', () => {
  const m = machine();
  assert.equal(m.load(BASE, 4), 0);
  assert.equal(m.load(BASE + 32 * MiB - 4, 4), 0);
});

test('cfi-flash: U-Boot probe sees what it sees on QEMU: "16 x 16", 16 MB in 128 sectors, Intel 0x89/0x18', () => {
  // QEMU 7.2 + Debian U-Boot `flinfo`: "Bank # 1: CFI conformant flash (16 x 16)  Size: 16 MB in 128 Sectors";
  // two banks make the banner's "Flash: 32 MiB".
  const m = machine();
  const r = ubootProbe(m);
  assert.ok(r, 'QRY found');
  assert.deepEqual(r, { pw: 2, cw: 2, lsb: 1, size: 16 * MiB, regions: 1, blocks: 128, blockSize: 128 * 1024, cmdset: 1, manuf: 0x89, dev: 0x18 });
  assert.equal(m.flash.mr.typeName(), 'romd', 'back in read-array (romd) mode');
});

test('cfi-flash: query mode leaves romd and answers per device lane; only 0xff returns', () => {
  const m = machine();
  m.store(BASE + 0x154, 4, 0x00980098);
  assert.equal(m.flash.mr.typeName(), 'i/o');
  m.store(BASE, 4, 0x00900090); // ignored in query mode (QEMU)
  m.store(BASE, 4, 0x00700070);
  assert.equal(m.load(BASE + 0x40, 4), 0x00510051);
  assert.equal(m.load(BASE + 0x40, 2), 0x0051);
  assert.equal(m.load(BASE + 0x9c, 4), 0x00180018, 'device size 2^24 per chip');
  assert.equal(m.as.ldq(BASE + 0x40), 0x0052005200510051n, '8-byte read combines two query words');
  m.store(BASE, 4, 0x00ff00ff);
  assert.equal(m.flash.mr.typeName(), 'romd');
});

test('cfi-flash: word program, status, erase, clear status', () => {
  const m = machine();
  m.store(BASE + 0x100, 4, 0x00400040);
  m.store(BASE + 0x100, 4, 0xdeadbeef);
  assert.equal(m.load(BASE + 0x100, 4), 0x00800080, 'status: ready in both chips');
  m.store(BASE, 4, 0x00ff00ff);
  assert.equal(m.load(BASE + 0x100, 4), 0xdeadbeef);
  // Block erase of the second 256 KiB block leaves the first alone.
  m.store(BASE + 0x40000, 4, 0x00400040);
  m.store(BASE + 0x40000, 4, 0x12345678);
  m.store(BASE + 0x40010, 4, 0x00200020);
  m.store(BASE + 0x40010, 4, 0x00d000d0);
  assert.equal(m.load(BASE + 0x40010, 4) & 0x80, 0x80);
  m.store(BASE, 4, 0x00ff00ff);
  assert.equal(m.load(BASE + 0x40000, 4), 0xffffffff);
  assert.equal(m.load(BASE + 0x7fffc, 4), 0xffffffff);
  assert.equal(m.load(BASE + 0x80000, 4), 0);
  assert.equal(m.load(BASE + 0x100, 4), 0xdeadbeef);
  // A bad erase confirm: like QEMU 7.2, the block was already erased by the setup command, the chip
  // returns to read array, and no error bits are set.
  m.store(BASE, 4, 0x00200020);
  m.store(BASE, 4, 0x00330033);
  assert.equal(m.flash.mr.typeName(), 'romd');
  assert.equal(m.load(BASE + 0x100, 4), 0xffffffff);
  m.store(BASE, 4, 0x00700070);
  assert.equal(m.load(BASE, 4), 0x00800080);
  m.store(BASE, 4, 0x00500050);
  assert.equal(m.flash.mr.typeName(), 'romd');
  m.store(BASE, 4, 0x00700070);
  assert.equal(m.load(BASE, 4), 0);
  m.store(BASE, 4, 0x00ff00ff);
});

test('cfi-flash: buffered write programs count+1 words and needs the confirm', () => {
  const m = machine();
  m.store(BASE + 0x200, 4, 0x00e800e8);
  assert.equal(m.load(BASE + 0x200, 4) & 0x80, 0x80, 'buffer available');
  m.store(BASE + 0x200, 4, 0x00030003); // 4 words
  for (let i = 0; i < 4; i++) m.store(BASE + 0x200 + 4 * i, 4, 0x11111111 * (i + 1));
  m.store(BASE + 0x200, 4, 0x00d000d0);
  m.store(BASE, 4, 0x00ff00ff);
  for (let i = 0; i < 4; i++) assert.equal(m.load(BASE + 0x200 + 4 * i, 4), (0x11111111 * (i + 1)) >>> 0);
  assert.equal(m.load(BASE + 0x210, 4), 0);
});

test('cfi-flash: backing file is loaded and writes persist; wrong size is a typed error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-flash-'));
  const path = join(dir, 'flash.img');
  const img = new Uint8Array(32 * MiB);
  img.set([1, 2, 3, 4], 0x1000);
  writeFileSync(path, img);
  const m = machine({ backingFile: path });
  assert.equal(m.load(BASE + 0x1000, 4), 0x04030201);
  m.store(BASE + 0x2000, 4, 0x00400040);
  m.store(BASE + 0x2000, 4, 0xcafef00d);
  m.store(BASE, 4, 0x00ff00ff);
  m.flash.close();
  const after = readFileSync(path);
  assert.equal(after.readUInt32LE(0x2000), 0xcafef00d);
  writeFileSync(join(dir, 'small.img'), new Uint8Array(100));
  assert.throws(() => new CfiFlash({ name: 'virt.flash1', backingFile: join(dir, 'small.img') }), FlashError);
  assert.throws(() => new CfiFlash({ name: 'x', backingFile: join(dir, 'missing.img') }), FlashError);
});

test('cfi-flash: read-only flash refuses program and erase', () => {
  const m = machine({ readOnly: true });
  m.store(BASE, 4, 0x00400040);
  m.store(BASE, 4, 0x12345678);
  assert.equal(m.load(BASE, 4) & 0x10, 0x10);
  m.store(BASE, 4, 0x00ff00ff);
  assert.equal(m.load(BASE, 4), 0);
});

test('cfi-flash: reset returns to read array; hostile command streams never throw', () => {
  const m = machine();
  m.store(BASE, 4, 0x00980098);
  m.flash.reset();
  assert.equal(m.flash.mr.typeName(), 'romd');
  const mr = m.flash.mr;
  // Drive the ops directly with random commands and data everywhere.
  fuzzRegion(mr, 32 * MiB, 5000, 9);
  for (const cmd of [0x10, 0x20, 0x28, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xe8, 0xd0, 0x01, 0xff]) {
    wr(mr, 32 * MiB - 4, cmd);
    wr(mr, 32 * MiB - 4, 0xffffffff);
    rd(mr, 32 * MiB - 4);
  }
});

// Recorded from QEMU 7.2's virt: a bare-metal program issued exactly these accesses to virt.flash0 and
// printed every byte read (query/ID/status at 1/2/4/8-byte widths, program, erase, a bad erase confirm,
// an unknown command, a buffered write).
const QEMU_FLASH_READS =
  '00 00 00 00 51 00 51 00 52 00 52 00 51 00 51 00 51 51 51 51 51 00 51 00 52 00 52 00 18 00 18 00 0b 00 ' +
  '0b 00 7f 00 7f 00 50 00 50 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ' +
  '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 80 00 80 00 44 33 22 11 80 00 80 00 00 5a 00 00 ' +
  '80 00 80 00 ff ff ff ff ff ff ff ff 00 00 00 00 ff ff ff ff 80 00 80 00 ff ff ff ff 00 00 00 00 ff ff ' +
  'ff ff 80 00 80 00 80 00 80 00 80 00 80 00 aa aa aa aa bb bb bb bb ff ff ff ff';

test('cfi-flash: QEMU golden probe reads the same bytes', () => {
  const m = machine();
  const out: number[] = [];
  const rec = (v: number, n: number) => {
    for (let i = 0; i < n; i++) out.push((v >>> (8 * i)) & 0xff);
  };
  const r = (off: number, n: 1 | 2 | 4) => rec(m.load(BASE + off, n), n);
  const r8 = (off: number) => {
    const v = m.as.ldq(BASE + off);
    rec(Number(v & 0xffffffffn), 4);
    rec(Number(v >> 32n), 4);
  };
  const w = (off: number, n: 1 | 2 | 4, v: number) => m.store(BASE + off, n, v);
  r(0, 4);
  w(0x154, 4, 0x00980098);
  r(0x40, 4); r(0x44, 4); r(0x40, 2); r(0x42, 2);
  r(0x40, 1); r(0x41, 1); r(0x42, 1); r(0x43, 1);
  r8(0x40);
  r(0x9c, 4); r(0xa8, 4); r(0xb4, 4); r(0xc4, 4); r(0x200, 4);
  w(0, 1, 0x90);
  r(0, 4); r(4, 4); r(8, 4); r(2, 2); r(1, 1); r(0x40000, 4); r(0x40004, 4);
  w(0, 2, 0x70);
  r(0, 4); r(0, 2); r(1, 1); r8(0);
  w(0, 4, 0x00ff00ff);
  w(0x100, 4, 0x00400040); w(0x100, 4, 0x11223344); r(0x100, 4);
  w(0, 4, 0x00ff00ff); r(0x100, 4);
  w(0x200, 1, 0x40); w(0x201, 1, 0x5a); r(0x200, 4);
  w(0, 1, 0xff); r(0x200, 4);
  w(0x40002, 2, 0x20); w(0x40002, 2, 0xd0); r(0x40000, 4);
  w(0x40000, 2, 0xff); r(0x40000, 4); r(0x7fffc, 4); r(0x80000, 4);
  w(0, 4, 0x00200020); w(0, 4, 0x00330033); r(0, 4);
  w(0, 4, 0x00700070); r(0, 4);
  w(0, 4, 0x00500050); r(0, 4);
  w(0, 4, 0x00700070); r(0, 4);
  w(0, 4, 0x00aa00aa); r(0, 4);
  w(0, 4, 0x00ff00ff);
  w(0x300, 4, 0x00e800e8); r(0x300, 4);
  w(0x300, 4, 0x00010001); w(0x300, 4, 0xaaaaaaaa); w(0x304, 4, 0xbbbbbbbb); r(0x300, 4);
  w(0x300, 4, 0x00d000d0); r(0x300, 4);
  w(0, 4, 0x00ff00ff);
  r(0x300, 4); r(0x304, 4); r(0x308, 4);
  assert.equal(out.map((b) => b.toString(16).padStart(2, '0')).join(' '), QEMU_FLASH_READS);
});
