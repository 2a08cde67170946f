// Acceptance: Linux (Debian's kernel, busybox initramfs) on qcow2 disks made
// by qemu-img: one converted from an ext4 image, one an overlay over a raw
// ext4 base, one raw image under snapshot=on. One boot does every check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GuestConsole } from '../helpers/console.js';
import { ensureGuest, linuxArgs, READY, Shell } from '../linux/guest.js';
import { check, qemuImg, rawImage, tmp } from './helpers.js';

const BOOT_MS = 1_200_000;
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

function ext4(mib: number): string {
  const img = rawImage(mib << 20);
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', img], { stdio: 'ignore' });
  return img;
}

function debugfsCat(rawOrQcow2: string, path: string): string {
  const raw = tmp('flat.raw');
  qemuImg('convert', '-O', 'raw', rawOrQcow2, raw);
  return execFileSync('debugfs', ['-R', `cat ${path}`, raw], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
}

test('Linux mounts ext4 on qcow2 (plain and over a raw backing file), writes files; qemu-img check clean; snapshot=on leaves its image unchanged', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureGuest();
  const plain = tmp('plain.qcow2');
  qemuImg('convert', '-q', '-O', 'qcow2', ext4(32), plain);
  const base = ext4(32);
  const baseSha = sha(base);
  const overlay = tmp('overlay.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay);
  const scratch = rawImage(8 << 20, (b) => b.fill(0x11));
  const scratchSha = sha(scratch);
  const g = GuestConsole.run(
    linuxArgs(1, [
      '-drive', `file=${plain},if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0',
      '-drive', `file=${overlay},if=virtio`,
      '-drive', `file=${scratch},if=virtio,format=raw,snapshot=on`,
    ]),
  );
  try {
    await g.expect(READY, BOOT_MS);
    const sh = new Shell(g);
    await sh.prompt();
    const parts = await sh.run('cat /proc/partitions');
    assert.match(parts, /\s32768\s+vd[a-c]\b/);
    // Which vdX is which depends on probe order: find them by size and content.
    const devs = (await sh.run("ls /sys/block | grep vd | tr '\\n' ' '")).trim().split(/\s+/);
    assert.equal(devs.length, 3, devs.join(','));
    let small = '';
    const big: string[] = [];
    for (const d of devs) {
      const sectors = Number((await sh.run(`cat /sys/block/${d}/size`)).trim());
      if (sectors === 16384) small = d;
      else big.push(d);
    }
    assert.ok(small && big.length === 2);
    for (const [i, d] of big.entries()) {
      await sh.run(`mkdir -p /m${i} && mount -t ext4 /dev/${d} /m${i} && echo "$(cat /sys/block/${d}/size)"`);
      await sh.run(`dd if=/dev/urandom of=/m${i}/blob bs=64k count=40 2>/dev/null; md5sum /m${i}/blob > /m${i}/blob.md5; echo file-on-${d} > /m${i}/hello.txt; sync`);
      assert.match(await sh.run(`md5sum -c /m${i}/blob.md5`), /OK/);
    }
    const sums = await sh.run('cat /m0/blob.md5 /m1/blob.md5');
    for (const i of [0, 1]) await sh.run(`umount /m${i}`);
    await sh.run(`printf 'snapshot-write' | dd of=/dev/${small} bs=512 seek=100 conv=notrunc 2>/dev/null; sync`);
    assert.match(await sh.run(`dd if=/dev/${small} bs=512 skip=100 count=1 2>/dev/null | head -c 14`), /snapshot-write/);
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
    for (const img of [plain, overlay]) {
      const c = check(img);
      assert.equal(c.code, 0, c.out);
      assert.match(debugfsCat(img, '/hello.txt'), /^file-on-vd[a-c]\n$/);
    }
    for (const img of [plain, overlay]) {
      const raw = tmp('blob.raw');
      qemuImg('convert', '-O', 'raw', img, raw);
      const blob = execFileSync('debugfs', ['-R', 'cat /blob', raw], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 << 20 });
      assert.equal(blob.length, 40 * 65536);
      assert.ok(sums.includes(createHash('md5').update(blob).digest('hex')), 'the file the guest wrote is in the image');
    }
    assert.equal(sha(base), baseSha, 'the backing file is untouched');
    assert.equal(sha(scratch), scratchSha, 'snapshot=on: the image is unchanged after guest writes');
  } finally {
    g.kill();
  }
});
