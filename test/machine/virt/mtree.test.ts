import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mtreeMain } from '../../../src/cli/mtree.js';
import { qemuVirt } from '../../helpers/reference.js';
import { buildVirtForMtree, MtreeOptionError } from '../../../src/machine/virt/mtree.js';

function referenceFlat(): string {
  const text = qemuVirt('qemu-monitor-mmio.txt');
  const start = text.indexOf('FlatView #0');
  const end = text.indexOf('(qemu) info qtree');
  return text.slice(start, end).trimEnd();
}

async function mtree(argv: string[]): Promise<string> {
  let out = '';
  const code = await mtreeMain(argv, buildVirtForMtree, (s) => (out += s));
  assert.equal(code, 0);
  return out;
}

test("mtree -f -machine virt -m 256M lists exactly QEMU 7.2's flat ranges", async () => {
  const out = await mtree(['-f', '-machine', 'virt', '-m', '256M']);
  assert.equal(out.trimEnd(), referenceFlat());
});

test('the RAM range follows -m and every hart gets a cpu-memory address space', async () => {
  const out = await mtree(['-f', '-M', 'virt', '-m', '1G', '-smp', '2']);
  assert.match(out, /0000000080000000-00000000bfffffff \(prio 0, ram\): riscv_virt_board\.ram/);
  assert.match(out, /AS "cpu-memory-1", root: system/);
});

test('the region tree shows the board structure (aliases for the PCIe windows)', async () => {
  const out = await mtree(['-machine', 'virt', '-m', '256M']);
  assert.match(out, /address-space: memory/);
  assert.match(out, /alias pcie-ecam @pcie-mmcfg-mmio/);
  assert.match(out, /alias pcie-mmio @gpex_mmio_window 0000000040000000-000000007fffffff/);
});

test('bad machine options are rejected', async () => {
  await assert.rejects(buildVirtForMtree(['-m', 'x']), MtreeOptionError);
  await assert.rejects(buildVirtForMtree(['-machine', 'pc']), /unsupported machine type/);
});

test('tsvmm mtree -f -machine virt -m 256M (the CLI) prints the same flat views', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const bin = fileURLToPath(new URL('../../../bin/tsvmm', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'mtree', '-f', '-machine', 'virt', '-m', '256M'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trimEnd(), referenceFlat());
  const bad = spawnSync(process.execPath, [bin, 'mtree', '-m', 'lots'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^tsvmm mtree: -m lots: invalid RAM size\n$/);
});
