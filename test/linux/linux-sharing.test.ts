// Acceptance (issue 18): one Linux boot, its console on hvc0 (a virtconsole
// port), mounts a host folder over virtio-9p (read-write and readonly=on),
// tries to escape it, sends a file through a virtserialport to a host UNIX
// socket, and talks vsock with a host program both ways. Each boot costs a
// minute or more of interpreted guest time, so every check shares this one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole } from '../helpers/console.js';
import { ensureGuest, linuxArgs, READY, Shell } from './guest.js';

// Generous: the boot shares the host with everything else CI runs.
const BOOT_MS = 2_400_000;
const CMD_MS = 600_000;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const PROG = fileURLToPath(new URL('./guest-progs/vsock-echo.c', import.meta.url));

/** The freestanding vsock test program, built for riscv64 Linux with the bare-metal toolchain. */
function buildVsockEcho(out: string): void {
  execFileSync('riscv64-unknown-elf-gcc', [
    '-O2', '-march=rv64imac', '-mabi=lp64', '-ffreestanding', '-fno-builtin', '-nostdlib', '-static', '-fno-pic', '-Wl,-e,_start', '-o', out, PROG,
  ]);
}

/** Connect to a UNIX socket, collecting what arrives. */
function collect(path: string): Promise<{ sock: Socket; data: () => Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = createConnection(path);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.once('error', reject);
    sock.once('connect', () => resolve({ sock, data: () => Buffer.concat(chunks) }));
  });
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('Linux on console=hvc0 shares host folders over virtio-9p (read, write, mkdir, rename, readonly, no escape), a virtserialport and vsock', { timeout: BOOT_MS + 1_800_000 }, async () => {
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
  buildVsockEcho(join(rw, 'vsock-echo'));
  const portSock = join(base, 'port.sock');
  const vsockUds = join(base, 'vsock');

  const g = GuestConsole.run(
    linuxArgs(1, [
      '-fsdev', `local,id=fs0,path=${rw},security_model=none`,
      '-device', 'virtio-9p-device,fsdev=fs0,mount_tag=hostshare',
      '-virtfs', `local,path=${ro},mount_tag=ro,security_model=none,readonly=on`,
      '-serial', 'null',
      '-chardev', 'stdio,id=con',
      '-chardev', `socket,id=port1,path=${portSock},server=on,wait=off`,
      '-device', 'virtio-serial-pci',
      '-device', 'virtconsole,chardev=con',
      '-device', 'virtserialport,chardev=port1,name=org.tsvmm.file',
      '-device', `vhost-vsock-pci,guest-cid=3,uds=${vsockUds}`,
      '-append', 'console=hvc0 cryptomgr.notests', // the crypto self-tests are minutes of interpreted work and test nothing here
    ]),
  );
  try {
    await g.expect(READY, BOOT_MS);
    const sh = new Shell(g);
    const run = (cmd: string): Promise<string> => sh.run(cmd, CMD_MS);
    await sh.prompt();
    await run('mkdir -p /mnt/h /mnt/ro');
    const m = await run('mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostshare /mnt/h && echo mounted-rw');
    assert.match(m, /mounted-rw/, m);
    assert.match(await run('mount -t 9p -o trans=virtio,version=9p2000.L ro /mnt/ro && echo mounted-ro'), /mounted-ro/);
    // list and read
    const ls = await run('ls -a /mnt/h');
    for (const n of ['hello.txt', 'big.bin', 'out', 'secret-link']) assert.match(ls, new RegExp(`(^|\\s)${n.replace('.', '\\.')}(\\s|$)`), ls);
    assert.equal((await run('cat /mnt/h/hello.txt')).trim(), 'hello from the host');
    const md5 = (await run('md5sum /mnt/h/big.bin')).trim().split(/\s+/)[0];
    assert.equal(md5, (await import('node:crypto')).createHash('md5').update(big).digest('hex'));
    // write, mkdir, rename: the host sees exactly those bytes
    await run("printf 'written by the guest\\n' > /mnt/h/guest.txt");
    await run('mkdir /mnt/h/newdir && dd if=/mnt/h/big.bin of=/mnt/h/newdir/copy.bin bs=4096 2>/dev/null');
    await run('mv /mnt/h/guest.txt /mnt/h/newdir/renamed.txt && sync');
    assert.equal(readFileSync(join(rw, 'newdir', 'renamed.txt'), 'utf8'), 'written by the guest\n');
    assert.ok(!existsSync(join(rw, 'guest.txt')));
    assert.ok(readFileSync(join(rw, 'newdir', 'copy.bin')).equals(big));
    // appends and truncation
    await run("printf 'more' >> /mnt/h/newdir/renamed.txt && truncate -s 7 /mnt/h/hello.txt 2>/dev/null || dd if=/dev/null of=/mnt/h/hello.txt bs=1 seek=7 2>/dev/null; sync");
    assert.equal(readFileSync(join(rw, 'newdir', 'renamed.txt'), 'utf8'), 'written by the guest\nmore');
    assert.equal(readFileSync(join(rw, 'hello.txt'), 'utf8'), 'hello f');
    // readonly=on
    assert.equal((await run('cat /mnt/ro/ro.txt')).trim(), 'read only');
    assert.match(await run('echo x > /mnt/ro/new.txt'), /Read-only file system/);
    assert.match(await run('mkdir /mnt/ro/d'), /Read-only file system/);
    assert.deepEqual(readdirSync(ro), ['ro.txt']);
    // escapes: .. past the root, host symlinks to the outside, guest symlinks to /etc
    const dots = await run('ls /mnt/h/../../../../; cat /mnt/h/../../../secret /mnt/h/out/secret /mnt/h/secret-link 2>&1');
    assert.doesNotMatch(dots, /host secret/);
    await run('ln -s /etc /mnt/h/etc-link && ln -s /etc/passwd /mnt/h/pw && echo pwned > /mnt/h/etc-link/tsvmm-escape 2>&1; echo pwned >> /mnt/h/pw; sync');
    // the guest's symlinks resolve in the guest (its own /etc); on the host they are inert links
    assert.ok(!existsSync('/etc/tsvmm-escape'));
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host secret\n');
    assert.deepEqual(readdirSync(outside), ['secret']);
    assert.match(await run('cat /etc/tsvmm-escape'), /pwned/);
    // the console is hvc0
    assert.match(await run('cat /sys/class/tty/console/active'), /hvc0/);

    // virtserialport: a file from the guest reaches the host UNIX socket intact
    const port = await collect(portSock);
    const vport = (await run('for d in /sys/class/virtio-ports/*; do [ "$(cat $d/name 2>/dev/null)" = org.tsvmm.file ] && echo ${d##*/}; done')).trim();
    assert.match(vport, /^vport\d+p1$/, vport);
    await run(`cat /mnt/h/big.bin > /dev/${vport}`);
    await until(() => port.data().length >= big.length, CMD_MS, 'file through the serial port');
    assert.equal(createHash('sha256').update(port.data()).digest('hex'), createHash('sha256').update(big).digest('hex'));
    port.sock.destroy();

    // vsock, host -> guest: CONNECT to a guest listener, which echoes
    // run from the guest's own tmpfs (copied over 9p)
    await run('cp /mnt/h/vsock-echo /tmp/ve && chmod 755 /tmp/ve');
    g.send('/tmp/ve l 1234 &\n');
    await g.expect('listening', CMD_MS);
    const v = await collect(vsockUds);
    v.sock.write('CONNECT 1234\n');
    await until(() => v.data().includes(0x0a), CMD_MS, 'OK from the vsock mapping');
    assert.match(v.data().toString(), /^OK \d+\n$/);
    const okLen = v.data().length;
    v.sock.end('ping from the host\n');
    await until(() => v.data().length >= okLen + 19, CMD_MS, 'echo from the guest');
    assert.equal(v.data().subarray(okLen).toString(), 'ping from the host\n');
    await g.expect('echo done', CMD_MS);
    // vsock, guest -> host: port 5000 is <uds>_5000
    let heard = '';
    const srv = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d: Buffer) => (heard += d.toString()));
      s.on('end', () => s.end('hello guest\n'));
    });
    await new Promise<void>((r) => srv.listen(`${vsockUds}_5000`, r));
    assert.match(await run('/tmp/ve c 5000'), /hello guest/);
    assert.equal(heard, 'hello from the guest\n');
    srv.close();
    // nobody on port 5001: the guest's connect fails
    assert.match(await run('/tmp/ve c 5001'), /connect failed/);

    // rmdir and unlink
    await run('rm -r /mnt/h/newdir && sync');
    assert.ok(!existsSync(join(rw, 'newdir')));
    await run('umount /mnt/h; umount /mnt/ro');
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
  } finally {
    g.kill();
  }
});
