// Debian's Linux with its two harts in worker realms (-accel tcg,thread=multi):
// both CPUs come up (IPIs and remote fences through OpenSBI cross realms),
// nproc = 2, a virtio-mmio disk reads back the host's bytes (its completion
// interrupts reach a hart realm through the PLIC's shared lines), a pattern
// written by the guest is in the host file after `poweroff -f` (exit 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestConsole } from '../../helpers/console.js';
import { ensureGuest, linuxArgs, md5, rawImage, readAt, READY, Shell } from '../../linux/guest.js';

const BOOT_MS = 1_200_000;

test('Linux -smp 2 -accel tcg,thread=multi: nproc 2, virtio disk read and write, poweroff exits 0', { timeout: BOOT_MS + 300_000 }, async () => {
  ensureGuest();
  const img = rawImage(8, 'smp-threads');
  const g = GuestConsole.run(linuxArgs(2, ['-accel', 'tcg,thread=multi', '-drive', `file=${img},if=none,format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0']));
  try {
    const ready = await g.expect(READY, BOOT_MS);
    assert.match(ready, /cpus=2/);
    const sh = new Shell(g);
    await sh.prompt();
    assert.equal((await sh.run('nproc')).trim(), '2');
    const sum = await sh.run('dd if=/dev/vda bs=4096 count=1 2>/dev/null | md5sum');
    assert.match(sum, new RegExp(`^${md5(readAt(img, 0, 4096))}\\s`, 'm'));
    await sh.run("printf 'tsvmm-smp-threads-%04d' 42 | dd of=/dev/vda bs=512 seek=100 conv=notrunc 2>/dev/null; sync");
    g.send('poweroff -f\n');
    assert.equal(await g.exitCode(120_000), 0);
    assert.equal(readAt(img, 100 * 512, 22).toString('latin1'), 'tsvmm-smp-threads-0042');
  } finally {
    g.kill();
  }
  assert.equal(g.stderr, '');
});
