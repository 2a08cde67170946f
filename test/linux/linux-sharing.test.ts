// Acceptance (issue 18): one Linux boot mounts a host folder over virtio-9p
// (read-write and readonly=on), tries to escape it, and uses virtio-serial
// and vsock channels to the host. Each boot costs a minute or more of
// interpreted guest time, so every check shares this one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole } from '../helpers/console.js';
import { ensureGuest, linuxArgs, READY, Shell } from './guest.js';

const BOOT_MS = 1_200_000;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('Linux shares host folders over virtio-9p: list, read, write, mkdir, rename, readonly, no escape', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureGuest();
  const base = mkdtempSync(join(tmpdir(), 'tsvmm-share-'));
  const rw = join(base, 'rw');
  const ro = join(base, 'ro');
  const outside = join(base, 'outside');
  for (const d of [rw, ro, outside]) mkdirSync(d);
  writeFileSync(join(rw, 'hello.txt'), 'hello from the host\n');
  const big = pattern(300_000, 7);
  writeFileSync(join(rw, 'big.bin'), big);
  writeFileSync(join(ro, 'ro.txt'), 'read only\n');
  writeFileSync(join(outside, 'secret'), 'host secret\n');
  symlinkSync(outside, join(rw, 'out'));
  symlinkSync(join(outside, 'secret'), join(rw, 'secret-link'));

  const g = GuestConsole.run(
    linuxArgs(1, [
      '-fsdev', `local,id=fs0,path=${rw},security_model=none`,
      '-device', 'virtio-9p-device,fsdev=fs0,mount_tag=hostshare',
      '-virtfs', `local,path=${ro},mount_tag=ro,security_model=none,readonly=on`,
    ]),
  );
  try {
    await g.expect(READY, BOOT_MS);
    const sh = new Shell(g);
    await sh.prompt();
    await sh.run('mkdir -p /mnt/h /mnt/ro');
    const m = await sh.run('mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostshare /mnt/h && echo mounted-rw');
    assert.match(m, /mounted-rw/, m);
    assert.match(await sh.run('mount -t 9p -o trans=virtio,version=9p2000.L ro /mnt/ro && echo mounted-ro'), /mounted-ro/);
    // list and read
    const ls = await sh.run('ls -a /mnt/h');
    for (const n of ['hello.txt', 'big.bin', 'out', 'secret-link']) assert.match(ls, new RegExp(`(^|\\s)${n.replace('.', '\\.')}(\\s|$)`), ls);
    assert.equal((await sh.run('cat /mnt/h/hello.txt')).trim(), 'hello from the host');
    const md5 = (await sh.run('md5sum /mnt/h/big.bin')).trim().split(/\s+/)[0];
    assert.equal(md5, (await import('node:crypto')).createHash('md5').update(big).digest('hex'));
    // write, mkdir, rename: the host sees exactly those bytes
    await sh.run("printf 'written by the guest\\n' > /mnt/h/guest.txt");
    await sh.run('mkdir /mnt/h/newdir && dd if=/mnt/h/big.bin of=/mnt/h/newdir/copy.bin bs=4096 2>/dev/null');
    await sh.run('mv /mnt/h/guest.txt /mnt/h/newdir/renamed.txt && sync');
    assert.equal(readFileSync(join(rw, 'newdir', 'renamed.txt'), 'utf8'), 'written by the guest\n');
    assert.ok(!existsSync(join(rw, 'guest.txt')));
    assert.ok(readFileSync(join(rw, 'newdir', 'copy.bin')).equals(big));
    // appends and truncation
    await sh.run("printf 'more' >> /mnt/h/newdir/renamed.txt && truncate -s 7 /mnt/h/hello.txt 2>/dev/null || dd if=/dev/null of=/mnt/h/hello.txt bs=1 seek=7 2>/dev/null; sync");
    assert.equal(readFileSync(join(rw, 'newdir', 'renamed.txt'), 'utf8'), 'written by the guest\nmore');
    assert.equal(readFileSync(join(rw, 'hello.txt'), 'utf8'), 'hello f');
    // readonly=on
    assert.equal((await sh.run('cat /mnt/ro/ro.txt')).trim(), 'read only');
    assert.match(await sh.run('echo x > /mnt/ro/new.txt'), /Read-only file system/);
    assert.match(await sh.run('mkdir /mnt/ro/d'), /Read-only file system/);
    assert.deepEqual(readdirSync(ro), ['ro.txt']);
    // escapes: .. past the root, host symlinks to the outside, guest symlinks to /etc
    const dots = await sh.run('ls /mnt/h/../../../../; cat /mnt/h/../../../secret /mnt/h/out/secret /mnt/h/secret-link 2>&1');
    assert.doesNotMatch(dots, /host secret/);
    await sh.run('ln -s /etc /mnt/h/etc-link && ln -s /etc/passwd /mnt/h/pw && echo pwned > /mnt/h/etc-link/tsvmm-escape 2>&1; echo pwned >> /mnt/h/pw; sync');
    // the guest's symlinks resolve in the guest (its own /etc); on the host they are inert links
    assert.ok(!existsSync('/etc/tsvmm-escape'));
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host secret\n');
    assert.deepEqual(readdirSync(outside), ['secret']);
    assert.match(await sh.run('cat /etc/tsvmm-escape'), /pwned/);
    // rmdir and unlink
    await sh.run('rm -r /mnt/h/newdir && sync');
    assert.ok(!existsSync(join(rw, 'newdir')));
    await sh.run('umount /mnt/h; umount /mnt/ro');
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
  } finally {
    g.kill();
  }
});
