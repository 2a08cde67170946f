// Acceptance (issue 11): Debian's riscv64 kernel and a busybox initramfs boot
// to a shell on the virt machine; the guest reads and writes a disk over
// virtio-mmio and virtio-pci, computes with floating point, and powers off.
// Each boot costs a minute or more of interpreted guest time, so each test
// does all of its checks in one boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { GuestConsole } from '../helpers/console.js';
import { ensureGuest, linuxArgs, md5, rawImage, readAt, READY, Shell } from './guest.js';

const BOOT_MS = 1_200_000;

/** Interrupts delivered for a /proc/interrupts line: "IRQ:  count(cpu0) [count(cpu1)...]  controller ...". */
function delivered(line: string): number {
  let sum = 0;
  for (const t of line.trim().split(/\s+/).slice(1)) {
    if (!/^\d+$/.test(t)) break;
    sum += Number(t);
  }
  return sum;
}

/** awk's answers computed with the host's IEEE doubles, in the same order. */
function awkExpected(): string {
  let h = 0;
  for (let i = 1; i <= 1000; i++) h += 1 / i;
  let p = 1;
  for (let i = 1; i <= 20; i++) p *= 1.1;
  const fmt = (x: number): string => x.toPrecision(17).replace(/(\.\d*?)0+(e|$)/, '$1$2').replace(/\.(e|$)/, '$1');
  let r = 1;
  for (let k = 0; k < 6; k++) r = (r + 2 / r) / 2; // Newton's square root of 2
  return [0.1 + 0.2, 1 / 3, h, p, r, 1e308 * 10, 7 / 2 - 3, 1e-310 / 3].map(fmt).join(' ');
}

test('Linux boots to a shell with a virtio-mmio disk, harts in worker threads: cpuinfo, partitions, reads, writes, awk, poweroff', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureGuest();
  const img = rawImage(16, 'mmio');
  const g = GuestConsole.run(linuxArgs(2, ['-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0']));
  try {
    const ready = await g.expect(READY, BOOT_MS);
    assert.match(ready, /cpus=2/);
    const sh = new Shell(g);
    await sh.prompt();
    assert.equal((await sh.run('nproc')).trim(), '2');
    assert.equal((await sh.run("grep -c '^processor' /proc/cpuinfo")).trim(), '2');
    assert.match(await sh.run('cat /proc/cpuinfo'), /hart\s*:\s*1/);
    const parts = await sh.run('cat /proc/partitions');
    assert.match(parts, /\s16384\s+vda\b/);
    const sum = await sh.run('dd if=/dev/vda bs=4096 count=1 2>/dev/null | md5sum');
    assert.match(sum, new RegExp(`^${md5(readAt(img, 0, 4096))}\\s`, 'm'));
    // the kernel set its clock from the goldfish RTC
    assert.equal((await sh.run('cat /sys/class/rtc/rtc0/name')).trim().split(' ')[0], 'goldfish_rtc');
    const guestNow = Number((await sh.run('date +%s')).trim());
    assert.ok(Math.abs(guestNow - Date.now() / 1000) < 600, `guest time ${guestNow}`);
    // virtio-mmio completions arrive as interrupts
    const irqs = (await sh.run('cat /proc/interrupts')).split('\n').filter((l) => /virtio/.test(l));
    // "IRQ:  count(cpu0)  count(cpu1)  controller ..." : the per-CPU counts add up to more than 0
    assert.ok(irqs.length > 0 && irqs.every((l) => delivered(l) > 0), irqs.join('\n'));
    // floating point in user space (Debian's busybox awk has no math library: arithmetic only)
    const awk = await sh.run(
      `awk 'BEGIN { h = 0; for (i = 1; i <= 1000; i++) h += 1 / i; p = 1; for (i = 1; i <= 20; i++) p *= 1.1; ` +
        `r = 1; for (k = 0; k < 6; k++) r = (r + 2 / r) / 2; ` +
        `printf "%.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\\n", 0.1 + 0.2, 1 / 3, h, p, r, 1e308 * 10, 7 / 2 - 3, 1e-310 / 3 }'`,
    );
    assert.equal(awk.trim().split('\n').pop(), awkExpected().replace('Infinity', 'inf'));
    // a known pattern at 3 MiB + 512, flushed, then an immediate power-off
    await sh.run("printf 'tsvmm-linux-pattern-%04d' 7 | dd of=/dev/vda bs=512 seek=6145 conv=notrunc 2>/dev/null; sync");
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
    assert.equal(readAt(img, 6145 * 512, 24).toString('latin1'), 'tsvmm-linux-pattern-0007');
  } finally {
    g.kill();
  }
});

test('Linux over virtio-pci (INTx), harts interleaved: ext4 written in the guest is readable with debugfs', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureGuest();
  const img = rawImage(64, 'pci');
  // ext4 in the first 32 MiB; the rest stays raw for the pattern write.
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', img, '32M'], { stdio: 'ignore' });
  // Two harts interleaved on the event loop (the deterministic mode); the mmio test runs them in worker threads.
  const g = GuestConsole.run(linuxArgs(2, ['-accel', 'tcg,thread=single', '-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0']));
  try {
    assert.match(await g.expect(READY, BOOT_MS), /cpus=2/);
    const sh = new Shell(g);
    await sh.prompt();
    assert.equal((await sh.run('nproc')).trim(), '2');
    assert.match(await sh.run('cat /proc/partitions'), /\s65536\s+vda\b/);
    // virtio-pci completions arrive as legacy INTx through the PLIC
    const irqs = (await sh.run('cat /proc/interrupts')).split('\n').filter((l) => /virtio/.test(l));
    assert.ok(irqs.length > 0 && irqs.every((l) => delivered(l) > 0 && /PLIC/.test(l)), irqs.join('\n'));
    const sum = await sh.run('dd if=/dev/vda bs=4096 count=1 2>/dev/null | md5sum');
    assert.match(sum, new RegExp(`^${md5(readAt(img, 0, 4096))}\\s`, 'm'));
    await sh.run("printf 'pci-pattern' | dd of=/dev/vda bs=4096 seek=12288 conv=notrunc 2>/dev/null; sync");
    await sh.run('mount -t ext4 /dev/vda /mnt && echo hello-from-linux > /mnt/hello.txt && umount /mnt');
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
    assert.equal(readAt(img, 12288 * 4096, 11).toString('latin1'), 'pci-pattern');
    const cat = execFileSync('debugfs', ['-R', 'cat /hello.txt', img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.equal(cat, 'hello-from-linux\n');
  } finally {
    g.kill();
  }
});
