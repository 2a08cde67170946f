import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AddressSpace } from '../../src/memory/address-space.js';
import { formatMtree } from '../../src/memory/mtree-format.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../src/memory/region.js';
import { memoryTransaction } from '../../src/memory/transaction.js';
import { mtreeMain } from '../../src/cli/mtree.js';
import { qemuVirtPath } from '../helpers/reference.js';

const reference = qemuVirtPath('qemu-monitor-mmio.txt');
const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));
const quiet = { log: (): void => {} };

/** QEMU 7.2's virt map with 256 MiB, built region by region with QEMU's names and kinds. */
function qemuVirtLike(): AddressSpace[] {
  const noop = { read: () => 0, write: () => {} };
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const io = MemoryRegion.io('io', 0x10000, noop);
  const bmc = MemoryRegion.container('bus master container', REGION_SIZE_MAX);
  memoryTransaction(() => {
    const add = (addr: number, mr: MemoryRegion): void => system.addSubregion(addr, mr);
    add(0x1000, MemoryRegion.rom('riscv_virt_board.mrom', 0xf000));
    add(0x100000, MemoryRegion.io('riscv.sifive.test', 0x1000, noop));
    add(0x101000, MemoryRegion.io('goldfish_rtc', 0x24, noop));
    add(0x2000000, MemoryRegion.io('riscv.aclint.swi', 0x4000, noop));
    add(0x2004000, MemoryRegion.io('riscv.aclint.mtimer', 0x8000, noop));
    add(0x3000000, MemoryRegion.io('gpex_ioport_window', 0x10000, noop));
    add(0xc000000, MemoryRegion.io('riscv.sifive.plic', 0x600000, noop));
    add(0x10000000, MemoryRegion.io('serial', 8, noop));
    for (let i = 1; i <= 8; i++) add(0x10000000 + i * 0x1000, MemoryRegion.io('virtio-mmio', 0x200, noop));
    add(0x10100000, MemoryRegion.io('fwcfg.data', 8, noop));
    add(0x10100008, MemoryRegion.io('fwcfg.ctl', 2, noop));
    add(0x10100010, MemoryRegion.io('fwcfg.dma', 8, noop));
    add(0x20000000, MemoryRegion.romDevice('virt.flash0', 0x2000000, noop));
    add(0x22000000, MemoryRegion.romDevice('virt.flash1', 0x2000000, noop));
    add(0x30000000, MemoryRegion.io('pcie-mmcfg-mmio', 0x10000000, noop));
    const window = MemoryRegion.reservation('gpex_mmio_window', REGION_SIZE_MAX);
    add(0x40000000, MemoryRegion.alias('pcie-mmio', window, 0x40000000, 0x40000000));
    add(0x80000000, MemoryRegion.ram('riscv_virt_board.ram', 0x10000000));
    add(0x400000000, MemoryRegion.alias('pcie-mmio-high', window, 0x400000000, 0x400000000));
    const bm = MemoryRegion.alias('bus master', system, 0, REGION_SIZE_MAX);
    bm.setEnabled(false);
    bmc.addSubregion(0, bm);
  });
  return [
    new AddressSpace(io, 'I/O', quiet),
    new AddressSpace(bmc, 'gpex-root', quiet),
    new AddressSpace(system, 'memory', quiet),
    new AddressSpace(system, 'cpu-memory-0', quiet),
  ];
}

test('info mtree -f output equals QEMU 7.2 character for character for the same map', () => {
  const text = readFileSync(reference, 'utf8');
  const start = text.indexOf('(qemu) info mtree -f\n') + '(qemu) info mtree -f\n'.length;
  const want = text.slice(start, text.indexOf('(qemu) info qtree'));
  const spaces = qemuVirtLike();
  try {
    assert.equal(formatMtree(spaces, { flat: true }), want);
  } finally {
    for (const as of spaces) as.destroy();
  }
});

test('info mtree tree output: sorting, aliases, disabled regions, shared roots', () => {
  const sys = MemoryRegion.container('system', REGION_SIZE_MAX);
  const ram = MemoryRegion.ram('ram', 0x1000);
  const hi = MemoryRegion.io('hi', 0x100, { read: () => 0 });
  const lo = MemoryRegion.io('lo', 0x100, { read: () => 0 });
  const off = MemoryRegion.io('off', 0x10, { read: () => 0 });
  off.setEnabled(false);
  sys.addSubregion(0x2000, ram);
  sys.addSubregion(0x1000, lo);
  sys.addSubregion(0x1000, hi, 2);
  sys.addSubregion(0x3000, off);
  sys.addSubregion(0x4000, MemoryRegion.alias('ram-alias', ram, 0x800, 0x800), -1);
  const a = new AddressSpace(sys, 'memory', quiet);
  const b = new AddressSpace(sys, 'cpu-memory-0', quiet);
  try {
    assert.equal(
      formatMtree([a, b]),
      [
        'address-space: cpu-memory-0',
        'address-space: memory',
        '  0000000000000000-ffffffffffffffff (prio 0, i/o): system',
        '    0000000000001000-00000000000010ff (prio 2, i/o): hi',
        '    0000000000001000-00000000000010ff (prio 0, i/o): lo',
        '    0000000000002000-0000000000002fff (prio 0, ram): ram',
        '    0000000000004000-00000000000047ff (prio -1, ram): alias ram-alias @ram 0000000000000800-0000000000000fff',
        '',
        'memory-region: ram',
        // QEMU adds the region's own offset even here.
        '  0000000000002000-0000000000002fff (prio 0, ram): ram',
        '',
        '',
      ].join('\n'),
    );
    assert.equal(
      formatMtree([a], { flat: true }),
      [
        'FlatView #0',
        ' AS "memory", root: system',
        ' Root memory region: system',
        '  0000000000001000-00000000000010ff (prio 2, i/o): hi',
        '  0000000000002000-0000000000002fff (prio 0, ram): ram',
        '  0000000000004000-00000000000047ff (prio 0, ram): ram @0000000000000800',
        '',
        '',
      ].join('\n'),
    );
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('mtreeMain takes a machine builder (the virt machine plugs in here)', async () => {
  let out = '';
  let got: string[] = [];
  const code = await mtreeMain(['-f', '-machine', 'virt', '-m', '256M'], async (argv) => {
    got = argv;
    return qemuVirtLike();
  }, (s) => {
    out += s;
  });
  assert.equal(code, 0);
  assert.deepEqual(got, ['-machine', 'virt', '-m', '256M']);
  assert.match(out, /^FlatView #0\n AS "I\/O", root: io\n/);
  assert.match(out, / {2}0000000080000000-000000008fffffff \(prio 0, ram\): riscv_virt_board\.ram\n/);
});

test('tsvmm mtree prints the demo machine; -f prints flat views', () => {
  const tree = spawnSync(process.execPath, [bin, 'mtree'], { encoding: 'utf8' });
  assert.equal(tree.status, 0, tree.stderr);
  assert.match(tree.stdout, /^address-space: I\/O\n {2}0000000000000000-000000000000ffff \(prio 0, i\/o\): io\n/);
  assert.match(tree.stdout, /alias pcie-mmio @gpex_mmio_window 0000000040000000-000000007fffffff/);
  const flat = spawnSync(process.execPath, [bin, 'mtree', '-f'], { encoding: 'utf8' });
  assert.equal(flat.status, 0, flat.stderr);
  assert.match(flat.stdout, /FlatView #1\n AS "gpex-root", root: bus master container\n Root memory region: \(none\)\n {2}No rendered FlatView\n\n/);
  assert.match(flat.stdout, / AS "memory", root: system\n AS "cpu-memory-0", root: system\n/);
  const bad = spawnSync(process.execPath, [bin, 'mtree', '-bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown option '-bogus'/);
});
