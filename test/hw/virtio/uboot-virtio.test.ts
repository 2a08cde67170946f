// Acceptance: Debian's M-mode U-Boot drives virtio-blk on a real FAT image
// (made with dosfstools + mtools) over virtio-mmio and over virtio-pci.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole } from '../../helpers/console.js';
import { qemuVirtPath } from '../../helpers/reference.js';

const PROMPT = /\n=> /;

function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function fatImage(): { dir: string; img: string; hello: Buffer; readme: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-uboot-virtio-'));
  const img = join(dir, 'disk.img');
  const hello = readFileSync(qemuVirtPath('hello.txt'));
  const readme = readFileSync(qemuVirtPath('readme.txt'));
  writeFileSync(join(dir, 'hello.txt'), hello);
  writeFileSync(join(dir, 'readme.txt'), readme);
  execFileSync('mkfs.vfat', ['-C', img, '8192'], { stdio: 'ignore' });
  execFileSync('mcopy', ['-i', img, join(dir, 'hello.txt'), join(dir, 'readme.txt'), '::'], { stdio: 'ignore' });
  return { dir, img, hello, readme };
}

const SETUPS = [
  { name: 'virtio-blk-device', pci: false, args: (img: string) => ['-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0'] },
  { name: 'virtio-blk-pci', pci: true, args: (img: string) => ['-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0'] },
  { name: '-drive if=virtio', pci: true, args: (img: string) => ['-drive', `file=${img},if=virtio,format=raw`] },
] as const;

for (const setup of SETUPS) {
  test(`U-Boot reads and writes a FAT image over ${setup.name}`, { timeout: 180_000 }, async () => {
    const { dir, img, hello } = fatImage();
    const g = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic', ...setup.args(img)]);
    try {
      await g.expect('Hit any key to stop autoboot');
      g.send(' ');
      await g.expect(PROMPT);
      g.line('virtio scan; virtio info');
      const info = await g.expect(PROMPT);
      // QEMU's transcripts: the mmio transport reports vendor "QEMU", U-Boot's legacy PCI driver the subsystem vendor.
      assert.match(info, setup.pci ? /Device 0: 1af4 VirtIO Block Device/ : /Device 0: QEMU VirtIO Block Device/);
      assert.match(info, /Capacity: 8\.0 MB = 0\.0 GB \(16384 x 512\)/);

      g.line('ls virtio 0');
      const ls = await g.expect(PROMPT);
      assert.match(ls, /\s59\s+hello\.txt/);
      assert.match(ls, /\s84\s+readme\.txt/);

      g.line('fatload virtio 0 0x84000000 hello.txt; crc32 0x84000000 ${filesize}');
      const crc = await g.expect(PROMPT);
      assert.match(crc, /59 bytes read/);
      assert.match(crc, new RegExp(`==> ${crc32(hello).toString(16).padStart(8, '0')}`));

      g.line('mw.b 0x85000000 0x5a 0x1000; fatwrite virtio 0 0x85000000 new.bin 0x1000');
      assert.match(await g.expect(PROMPT), /4096 bytes written/);

      g.line('mw.b 0x86000000 0xc3 0x200; virtio write 0x86000000 0x3000 1; virtio read 0x87000000 0x3000 1; cmp.b 0x86000000 0x87000000 0x200');
      assert.match(await g.expect(PROMPT), /Total of 512 byte\(s\) were the same/);

      g.line('poweroff');
      assert.equal(await g.exitCode(), 0);
    } finally {
      g.kill();
    }
    const out = join(dir, 'new.bin');
    execFileSync('mcopy', ['-i', img, '::new.bin', out], { stdio: 'ignore' });
    const got = readFileSync(out);
    assert.equal(got.length, 0x1000);
    assert.ok(got.every((b) => b === 0x5a), 'fatwrite bytes are in the host image');
    const raw = readFileSync(img).subarray(0x3000 * 512, 0x3000 * 512 + 512);
    assert.ok(raw.every((b) => b === 0xc3), 'virtio write reached the host image');
  });
}
