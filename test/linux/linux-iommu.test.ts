// Acceptance (issue 20): Debian 13's backports kernel (7.x, CONFIG_RISCV_IOMMU=y)
// probes the platform RISC-V IOMMU of `-machine virt,iommu-sys=on` (WARL
// probing, queues, a 3-level device directory, IODIR.INVAL_DDT + IOFENCE.C when
// it attaches each device) and puts the virtio-blk-pci disk in an IOMMU group;
// the disk's reads and writes pass through the IOMMU (directory walk, device
// context) and reach the host file.
//
// Debian's riscv64 kernels are built without CONFIG_IOMMU_DMA (the DMA API has
// no IOMMU backend on RISC-V there), so the core gives every group an identity
// domain even with iommu.strict=1: the device context's first stage is Bare.
// Translated (Sv39/Sv48) DMA and the IOFENCE.C barrier are exercised by
// test/hw/iommu and the seed004 explorer scenario.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { GuestConsole } from '../helpers/console.js';
import { ensureBackportsGuest, INITRD_BPO, md5, rawImage, readAt, READY, Shell, VMLINUX_BPO } from './guest.js';

const BOOT_MS = 1_500_000;

test('Linux 7.x drives the RISC-V IOMMU: the disk in an IOMMU group, virtio-blk-pci reads and writes through it', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureBackportsGuest();
  const img = rawImage(64, 'iommu');
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', img, '32M'], { stdio: 'ignore' });
  const g = GuestConsole.run([
    '-machine', 'virt,iommu-sys=on', '-m', '512M', '-smp', '1',
    '-kernel', VMLINUX_BPO, '-initrd', INITRD_BPO,
    '-append', 'console=ttyS0 iommu.strict=1 cryptomgr.notests', '-nographic',
    '-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0',
  ]);
  try {
    await g.expect(READY, BOOT_MS);
    const sh = new Shell(g);
    await sh.prompt();
    const dmesg = await sh.run('dmesg | grep -i iommu');
    assert.match(dmesg, /riscv,iommu 3010000\.iommu: using wire-signaled interrupts/);
    assert.match(dmesg, /DMA domain TLB invalidation policy: strict mode/);
    assert.match(dmesg, /0000:00:01\.0: Adding to iommu group (\d+)/);
    const group = /0000:00:01\.0: Adding to iommu group (\d+)/.exec(dmesg)![1];
    assert.equal((await sh.run(`cat /sys/kernel/iommu_groups/${group}/type`)).trim(), 'identity');
    assert.match(await sh.run(`ls /sys/kernel/iommu_groups/${group}/devices`), /0000:00:01\.0/);
    assert.match(await sh.run('cat /proc/partitions'), /\s65536\s+vda\b/);
    const sum = await sh.run('dd if=/dev/vda bs=4096 count=1 2>/dev/null | md5sum');
    assert.match(sum, new RegExp(`^${md5(readAt(img, 0, 4096))}\\s`, 'm'));
    const big = await sh.run('dd if=/dev/vda bs=65536 skip=256 count=64 2>/dev/null | md5sum');
    assert.match(big, new RegExp(`^${md5(readAt(img, 256 * 65536, 64 * 65536))}\\s`, 'm'));
    await sh.run("printf 'iommu-pattern' | dd of=/dev/vda bs=4096 seek=12288 conv=notrunc 2>/dev/null; sync");
    await sh.run('mount -t ext4 /dev/vda /mnt && echo through-the-iommu > /mnt/hello.txt && umount /mnt');
    // No fault was reported for the disk's DMA.
    assert.doesNotMatch(await sh.run('dmesg | grep -i "riscv-iommu.*fault"; true'), /Fault/);
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
    assert.equal(readAt(img, 12288 * 4096, 13).toString('latin1'), 'iommu-pattern');
    const cat = execFileSync('debugfs', ['-R', 'cat /hello.txt', img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.equal(cat, 'through-the-iommu\n');
  } finally {
    g.kill();
  }
});
