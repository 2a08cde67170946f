import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestConsole } from '../helpers/console.js';
import { qemuVirt } from '../helpers/reference.js';

function reference(name: string): string {
  return qemuVirt(name);
}

/** The banner lines the acceptance criteria compare with QEMU's transcript. */
function bannerLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((l) => /^(Model|DRAM|Flash|In|Out|Err):/.test(l))
    .slice(0, 6)
    .map((l) => l.trimEnd());
}

test("Debian's M-mode U-Boot boots to a prompt, runs commands and powers off (exit 0)", { timeout: 180_000 }, async () => {
  const s = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic']);
  try {
    await s.expect(/Hit any key to stop autoboot/);
    s.send(' ');
    await s.expect(/=> /);
    s.send('version\r');
    await s.expect(/GNU ld[^\n]*\n[\s\S]*?=> /);
    s.send('bdinfo\r');
    await s.expect(/devicetree\s+= board[\s\S]*?=> /);
    s.send('cpu list\r');
    await s.expect(/0: cpu@0\s+rv64[^\n]*\n[\s\S]*?=> /);
    s.send('dm tree\r');
    await s.expect(/pci_generic_ecam[\s\S]*sifive_clint[\s\S]*?=> /);
    s.send('poweroff\r');
    assert.equal(await s.exited, 0, s.stderr);
  } finally {
    s.kill();
  }
  const out = s.output;
  assert.deepEqual(bannerLines(out), bannerLines(reference('uboot-mmode-virtio-mmio.txt')));
  assert.match(out, /U-Boot 2023\.01\+dfsg-2\+deb12u3/);
  // bdinfo: the same DRAM bank, flash and relocation as under QEMU.
  for (const line of ['-> start    = 0x0000000080000000', '-> size     = 0x0000000010000000', 'flashstart  = 0x0000000020000000', 'flashsize   = 0x0000000002000000']) {
    assert.ok(out.includes(line), `bdinfo shows ${line}`);
  }
  // dm tree lists the same devices as QEMU's (minus the virtio-blk disk the reference had attached).
  for (const dev of ['cfi_flash             |-- flash@20000000', 'ns16550_serial        |   |-- serial@10000000', 'virtio-mmio           |   |-- virtio_mmio@10001000', 'pci_generic_drv       |   |   `-- pci_0:0.0']) {
    assert.ok(out.includes(dev), `dm tree shows ${dev}`);
  }
  assert.equal(s.stderr, '');
});

test('OpenSBI fw_jump + S-mode U-Boot boots to the prompt and powers off (exit 0)', { timeout: 180_000 }, async () => {
  const s = GuestConsole.run([
    '-machine', 'virt', '-m', '256M', '-nographic',
    '-bios', '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin',
    '-kernel', '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin',
  ]);
  try {
    await s.expect(/Hit any key to stop autoboot/);
    s.send(' ');
    await s.expect(/=> /);
    s.send('poweroff\r');
    assert.equal(await s.exited, 0, s.stderr);
  } finally {
    s.kill();
  }
  const out = s.output;
  for (const line of [
    'Platform Name             : riscv-virtio,qemu',
    'Platform HART Count       : 1',
    'Platform Timer Device     : aclint-mtimer @ 10000000Hz',
    'Platform Console Device   : uart8250',
    'Platform Shutdown Device  : sifive_test',
    'Domain0 Next Address      : 0x0000000080200000',
    'Boot HART ISA Extensions  : time,sstc',
    'Boot HART PMP Count       : 16',
    'Boot HART PMP Granularity : 4',
    'Boot HART PMP Address Bits: 54',
  ]) {
    assert.ok(out.includes(line), `OpenSBI banner shows '${line}'`);
  }
  assert.match(out, /Boot HART Base ISA\s+: rv64imafdc/);
  assert.deepEqual(bannerLines(out), bannerLines(reference('uboot-smode-opensbi-virtio-mmio.txt')));
  assert.match(out, /Working FDT set to 8f735950/);
});

test('-kernel without -bios uses OpenSBI fw_dynamic; -append and -initrd reach /chosen', { timeout: 180_000 }, async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const initrd = join(mkdtempSync(join(tmpdir(), 'tsvmm-initrd-')), 'initrd.img');
  writeFileSync(initrd, new Uint8Array(0x1234).fill(0xa5));
  const s = GuestConsole.run([
    '-m', '256M', '-kernel', '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin',
    '-append', 'console=ttyS0 tsvmm=1', '-initrd', initrd,
  ]);
  try {
    await s.expect(/Domain0 Next Address\s+: 0x0000000080200000/);
    await s.expect(/Hit any key to stop autoboot/);
    s.send(' ');
    await s.expect(/=> /);
    s.send('fdt addr ${fdtcontroladdr}; fdt print /chosen\r');
    await s.expect(/stdout-path[\s\S]*?=> /);
    s.send('md.b 0x88200000 4\r');
    await s.expect(/88200000: a5 a5 a5 a5[\s\S]*?=> /);
    s.send('poweroff\r');
    assert.equal(await s.exited, 0, s.stderr);
  } finally {
    s.kill();
  }
  assert.match(s.output, /Domain0 Next Arg1\s+: 0x000000008fe00000/);
  assert.match(s.output, /bootargs = "console=ttyS0 tsvmm=1"/);
  // The kernel is at 0x80200000, so the initrd goes to 0x80200000 + 128 MiB (QEMU's rule).
  assert.match(s.output, /linux,initrd-start = <0x00000000 0x88200000>/);
  assert.match(s.output, /linux,initrd-end = <0x00000000 0x88201234>/);
});

test('-icount: two autoboot runs print the same transcript (deterministic virtual clock)', { timeout: 180_000 }, async () => {
  const transcript = async (): Promise<string> => {
    // 2^10 ns per instruction: U-Boot's 2 s countdown passes in about 2 M instructions.
    const s = GuestConsole.run(['-m', '256M', '-icount', 'shift=10']);
    try {
      // The countdown redraws with backspaces; after it, bootcmd tries every device and returns to the prompt.
      await s.expect(/Hit any key to stop autoboot:[\s\S]*scanning bus[\s\S]*No ethernet found\.\r?\n=> /, 120_000);
      const upToPrompt = s.output;
      s.send('poweroff\r');
      assert.equal(await s.exited, 0, s.stderr);
      return upToPrompt;
    } finally {
      s.kill();
    }
  };
  const a = await transcript();
  const b = await transcript();
  assert.equal(a, b);
  assert.match(a, /No ethernet found\.\r?\n=> $/);
});
