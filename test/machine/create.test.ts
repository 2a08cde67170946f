/**
 * The library entry in Node: createMachine boots what `tsvmm run` boots
 * (Debian's M-mode U-Boot by default), the console is a callback plus
 * input(), an in-memory virtio-blk disk takes the guest's writes in place,
 * and a bad image is a BootError with the loader's one-line message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMachine, BootError } from '../../src/index.js';

test("createMachine: U-Boot from the default path, console by callback, a disk written in place, poweroff's exit code", async () => {
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const disk = new Uint8Array(1 << 20);
  const m = createMachine({
    disk,
    onOutput: (b) => {
      out += Buffer.from(b).toString('latin1');
      for (const w of waiters.splice(0)) if (w.re.test(out)) w.resolve();
      else waiters.push(w);
    },
  });
  const expect = (re: RegExp): Promise<void> => (re.test(out) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve })));
  assert.equal(m.harts, 1);
  const run = m.run();
  await expect(/Hit any key to stop autoboot/);
  m.input('\r');
  await expect(/=> $/);
  // U-Boot writes one block of RAM (0x80000000: its own code, non-zero) to the disk's block 3.
  m.input('virtio scan; virtio write 0x80000000 3 1; version\r');
  await expect(/GNU ld[^\n]*\n=> $/);
  assert.match(out, /U-Boot 2023\.01/);
  assert.ok(m.instructions() > 1_000_000);
  assert.ok(m.disk !== null && m.disk.bytes === disk);
  assert.ok(disk.subarray(3 * 512, 4 * 512).some((b) => b !== 0), 'block 3 written');
  assert.ok(disk.subarray(0, 3 * 512).every((b) => b === 0));
  m.input('poweroff\r');
  assert.equal(await run, 0);
});

test('createMachine: an image that is not what it claims is a BootError before anything runs', () => {
  const elf = new Uint8Array(64);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  assert.throws(() => createMachine({ kernel: { name: 'cut.elf', bytes: elf } }), (e: unknown) => e instanceof BootError && /kernel 'cut\.elf'/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => createMachine({ bios: '/nonexistent/fw.bin' }), /could not load firmware '\/nonexistent\/fw.bin': No such file or directory/);
});
