import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fdt } from '../../../src/machine/fdt.js';
import { createVirtFdt } from '../../../src/machine/virt/fdt.js';
import { qemuVirtPath } from '../../helpers/reference.js';

const REF = qemuVirtPath('virt.dts');
const refPath = new URL('../../../../shared/reference/qemu-virt/virt.dts', import.meta.url);

function tmp(name: string, data: Uint8Array | string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'tsvmm-virt-fdt-')), name);
  writeFileSync(f, data);
  return f;
}

function referenceTree(): Fdt {
  let src: string;
  try {
    src = readFileSync(refPath, 'utf8');
  } catch {
    src = readFileSync(REF, 'utf8');
  }
  const out = spawnSync('dtc', ['-I', 'dts', '-O', 'dtb', '-o', '-', tmp('ref.dts', src)], { maxBuffer: 1 << 20 });
  assert.equal(out.status, 0, String(out.stderr));
  return Fdt.parse(new Uint8Array(out.stdout));
}

function summary(fdt: Fdt): Map<string, { compatible?: string[]; reg?: number[] }> {
  const m = new Map<string, { compatible?: string[]; reg?: number[] }>();
  for (const n of fdt.nodes()) {
    m.set(n.path, { compatible: n.prop('compatible')?.strings(), reg: n.prop('reg')?.cells() });
  }
  return m;
}

const MiB = 1024 * 1024;

test("the generated tree has QEMU's node paths, compatibles and reg values (-smp 2 -m 256M)", () => {
  const { fdt } = createVirtFdt({ ramSize: 256 * MiB, smp: 2 });
  assert.deepEqual(summary(fdt), summary(referenceTree()));
});

test('dtc decompiles the DTB without errors and prints what QEMU prints, bar rng-seed and the H extension in riscv,isa', () => {
  const { fdt } = createVirtFdt({ ramSize: 256 * MiB, smp: 2, rngSeed: new Uint8Array(32).fill(1) });
  const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', tmp('t.dtb', fdt.toBlob())], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /ERROR/);
  // QEMU 7.2's rv64 CPU has the hypervisor extension; the harts have everything else it lists.
  const norm = (s: string): string => s.replace(/rng-seed = <[^>]*>/, 'rng-seed').replace(/riscv,isa = "rv64imafdch_/g, 'riscv,isa = "rv64imafdc_');
  let ref: string;
  try {
    ref = readFileSync(refPath, 'utf8');
  } catch {
    ref = readFileSync(REF, 'utf8');
  }
  assert.equal(norm(r.stdout), norm(ref));
});

test('phandles, interrupt wiring and chosen follow the hart count and options', () => {
  const { fdt, handles } = createVirtFdt({ ramSize: 1024 * MiB, smp: 1, bootargs: 'console=ttyS0' });
  assert.equal(handles.plic, 3);
  assert.equal(handles.test, 4);
  assert.deepEqual(fdt.find('/soc/plic@c000000')!.prop('interrupts-extended')!.cells(), [2, 11, 2, 9]);
  assert.deepEqual(fdt.find('/soc/clint@2000000')!.prop('interrupts-extended')!.cells(), [2, 3, 2, 7]);
  assert.deepEqual(fdt.find('/memory@80000000')!.prop('reg')!.cells(), [0, 0x80000000, 0, 0x40000000]);
  assert.deepEqual(fdt.find('/chosen')!.prop('bootargs')!.strings(), ['console=ttyS0']);
  assert.deepEqual(fdt.find('/chosen')!.prop('stdout-path')!.strings(), ['/soc/serial@10000000']);
  assert.deepEqual(fdt.find('/poweroff')!.prop('regmap')!.cells(), [4]);
  assert.equal(fdt.find('/soc/serial@10000000')!.prop('interrupt-parent')!.cells()[0], 3);
});
