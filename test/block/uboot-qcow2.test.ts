// Acceptance: Debian's U-Boot reads and writes qcow2 images made by qemu-img
// (with and without a backing file) through tsvmm, and the same session
// under QEMU 7.2 leaves an image qemu-img compare calls identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { GuestConsole } from '../helpers/console.js';
import { DEFAULT_UBOOT } from '../../src/machine/virt/virt.js';
import { check, compare, qemuImg, rawImage, tmp } from './helpers.js';

const PROMPT = /\n=> /;

function fatImage(): string {
  const img = tmp('fat.raw');
  const hello = tmp('hello.txt');
  writeFileSync(hello, 'hello from a qcow2 image\n');
  execFileSync('mkfs.vfat', ['-C', '-i', '12345678', img, '8192'], { stdio: 'ignore' });
  execFileSync('mcopy', ['-i', img, hello, '::hello.txt'], { stdio: 'ignore' });
  return img;
}

/** The same U-Boot session for tsvmm and QEMU: list, load, write a file and raw sectors, power off. */
async function session(g: GuestConsole): Promise<void> {
  try {
    await g.expect('Hit any key to stop autoboot', 120_000);
    g.send(' ');
    await g.expect(PROMPT);
    g.line('virtio scan; ls virtio 0');
    assert.match(await g.expect(PROMPT), /\s25\s+hello\.txt/);
    g.line('fatload virtio 0 0x84000000 hello.txt');
    assert.match(await g.expect(PROMPT), /25 bytes read/);
    g.line('mw.b 0x85000000 0x5a 0x5000; fatwrite virtio 0 0x85000000 new.bin 0x5000');
    assert.match(await g.expect(PROMPT), /20480 bytes written/);
    g.line('mw.b 0x86000000 0xc3 0x30000; mw.b 0x86010000 0x3c 0x200; virtio write 0x86000000 0x2f00 0x180');
    assert.match(await g.expect(PROMPT), /384 blocks written: OK/);
    g.line('virtio read 0x88000000 0x2f00 0x180; cmp.b 0x86000000 0x88000000 0x30000');
    assert.match(await g.expect(PROMPT), /Total of 196608 byte\(s\) were the same/);
    g.line('poweroff');
    await g.exited;
  } finally {
    g.kill();
  }
}

for (const withBacking of [false, true]) {
  test(`U-Boot on a qcow2 image ${withBacking ? 'over a raw backing file' : 'made by qemu-img convert'}: reads, writes, qemu-img check clean, same bytes as under QEMU 7.2`, { timeout: 300_000 }, async () => {
    const fat = fatImage();
    const mk = (): string => {
      const p = tmp('disk.qcow2');
      if (withBacking) qemuImg('create', '-q', '-f', 'qcow2', '-b', fat, '-F', 'raw', p);
      else qemuImg('convert', '-q', '-O', 'qcow2', fat, p);
      return p;
    };
    const ours = mk();
    const theirs = tmp('qemu.qcow2');
    copyFileSync(ours, theirs);
    const fatBefore = readFileSync(fat);
    // No format=: the qcow2 is probed, as QEMU does.
    const g = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic', '-drive', `file=${ours},if=virtio`]);
    await session(g);
    assert.equal(await g.exitCode(), 0);
    assert.doesNotMatch(g.stderr, /WARNING/, 'a qcow2 image is not probed as raw');
    const q = GuestConsole.spawn('qemu-system-riscv64', ['-machine', 'virt', '-m', '256M', '-nographic', '-bios', DEFAULT_UBOOT, '-drive', `file=${theirs},if=virtio`]);
    await session(q);
    const c = check(ours);
    assert.equal(c.code, 0, c.out);
    const cmp = compare(ours, theirs);
    assert.equal(cmp.code, 0, cmp.out);
    const out = tmp('new.bin');
    execFileSync('qemu-img', ['convert', '-O', 'raw', ours, `${out}.raw`]);
    execFileSync('mcopy', ['-i', `${out}.raw`, '::new.bin', out], { stdio: 'ignore' });
    assert.ok(readFileSync(out).equals(Buffer.alloc(0x5000, 0x5a)), 'the file U-Boot wrote is in the image');
    if (withBacking) assert.ok(readFileSync(fat).equals(fatBefore), 'the backing file is untouched');
  });
}

test('-snapshot with -hda (QEMU\'s unattached none0, given to a device), a -blockdev qcow2, and an unattached drive: U-Boot writes; the -hda image is unchanged, the qcow2 holds the data', { timeout: 300_000 }, async () => {
  const raw = rawImage(4 << 20, (b) => b.fill(0x5d));
  const rawSha = createHash('sha256').update(readFileSync(raw)).digest('hex');
  const q = tmp('bd.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', q, String(4 << 20));
  const unused = rawImage(1 << 20);
  const g = GuestConsole.run([
    '-machine', 'virt', '-m', '256M', '-nographic', '-snapshot',
    '-hda', raw, '-device', 'virtio-blk-device,drive=none0',
    '-blockdev', `driver=qcow2,node-name=q0,file.driver=file,file.filename=${q}`, '-device', 'virtio-blk-pci,drive=q0',
    '-drive', `file=${unused},format=raw`,
  ]);
  try {
    await g.expect('Hit any key to stop autoboot', 120_000);
    g.send(' ');
    await g.expect(PROMPT);
    g.line('virtio scan; mw.b 0x86000000 0xa7 0x20000');
    await g.expect(PROMPT);
    for (const dev of [0, 1]) {
      g.line(`virtio dev ${dev}; virtio write 0x86000000 0x10 0x100; virtio read 0x88000000 0x10 0x100; cmp.b 0x86000000 0x88000000 0x20000`);
      assert.match(await g.expect(PROMPT), /Total of 131072 byte\(s\) were the same/);
    }
    g.line('poweroff');
    assert.equal(await g.exitCode(), 0);
  } finally {
    g.kill();
  }
  assert.match(g.stderr, /probing guessed raw/, 'QEMU\'s warning for the probed -hda image');
  assert.match(g.stderr, /drive none1 \(.*\) is not attached to any device/);
  assert.equal(createHash('sha256').update(readFileSync(raw)).digest('hex'), rawSha, '-snapshot: the image is unchanged');
  // As in QEMU, -snapshot applies to -drive (and -hda), not to -blockdev nodes: the qcow2 was written.
  const c = check(q);
  assert.equal(c.code, 0, c.out);
  const flat = tmp('bd.raw');
  qemuImg('convert', '-O', 'raw', q, flat);
  const got = readFileSync(flat).subarray(0x10 * 512, 0x10 * 512 + 0x20000);
  assert.ok(got.every((b) => b === 0xa7));
});
