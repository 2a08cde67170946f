import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fdt, FdtError, FDT_MAGIC } from '../../src/machine/fdt.js';

function dtc(blob: Uint8Array): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-fdt-'));
  const f = join(dir, 't.dtb');
  writeFileSync(f, blob);
  return spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', f], { encoding: 'utf8' });
}

test('header fields, block layout and reservations follow FDT v17', () => {
  const fdt = new Fdt();
  fdt.reservations.push({ address: 0x80000000, size: 0x1000 });
  fdt.root.setU32('#address-cells', 2);
  fdt.root.addNode('chosen').setString('bootargs', 'console=ttyS0');
  const b = fdt.toBlob();
  const dv = new DataView(b.buffer);
  assert.equal(dv.getUint32(0), FDT_MAGIC);
  assert.equal(dv.getUint32(4), b.length);
  assert.equal(dv.getUint32(20), 17);
  assert.equal(dv.getUint32(24), 16);
  const offRsv = dv.getUint32(16);
  assert.equal(offRsv % 8, 0);
  assert.equal(dv.getUint32(offRsv + 4), 0x80000000);
  assert.equal(dv.getUint32(offRsv + 12), 0x1000);
  assert.equal(dv.getUint32(offRsv + 16 + 12), 0); // terminator
  assert.equal(dv.getUint32(8), offRsv + 32); // struct follows the two reservation entries
  assert.equal(dv.getUint32(12), dv.getUint32(8) + dv.getUint32(36));
  const r = dtc(b);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\/memreserve\/\s+0x0*80000000 0x0*1000;/);
  assert.match(r.stdout, /bootargs = "console=ttyS0";/);
});

test('property names are deduplicated, including suffixes', () => {
  const fdt = new Fdt();
  fdt.root.setU32('#size-cells', 2).addNode('a').setU32('#size-cells', 1);
  fdt.root.addNode('b').setU32('size-cells', 3);
  const b = fdt.toBlob();
  const dv = new DataView(b.buffer);
  assert.equal(dv.getUint32(32), '#size-cells\0'.length);
  const back = Fdt.parse(b);
  assert.deepEqual(back.find('/b')!.prop('size-cells')!.cells(), [3]);
  assert.deepEqual(back.find('/a')!.prop('#size-cells')!.cells(), [1]);
});

test('round trip through parse keeps nodes, properties and order', () => {
  const fdt = new Fdt();
  const soc = fdt.root.addNode('soc');
  soc.addNode('serial@10000000').setU64s('reg', 0x10000000, 0x100).setStrings('compatible', 'ns16550a', 'x');
  soc.addNode('empty').setEmpty('ranges');
  const back = Fdt.parse(fdt.toBlob());
  assert.deepEqual([...back.nodes()].map((n) => n.path), ['/', '/soc', '/soc/serial@10000000', '/soc/empty']);
  const s = back.find('/soc/serial@10000000')!;
  assert.deepEqual(s.prop('reg')!.cells(), [0, 0x10000000, 0, 0x100]);
  assert.deepEqual(s.prop('compatible')!.strings(), ['ns16550a', 'x']);
  assert.equal(back.find('/soc/empty')!.prop('ranges')!.value.length, 0);
});

test('bad input: invalid names, cells and blobs throw FdtError', () => {
  const fdt = new Fdt();
  assert.throws(() => fdt.root.addNode('a/b'), FdtError);
  fdt.root.addNode('x');
  assert.throws(() => fdt.root.addNode('x'), FdtError);
  assert.throws(() => fdt.root.setCells('c', 2 ** 32), FdtError);
  assert.throws(() => fdt.root.setU64s('c', -1), FdtError);
  assert.throws(() => Fdt.parse(new Uint8Array(10)), FdtError);
  const b = fdt.toBlob();
  const bad = b.slice();
  bad[0] = 0;
  assert.throws(() => Fdt.parse(bad), /bad magic/);
  assert.throws(() => Fdt.parse(b.subarray(0, b.length - 8)), FdtError);
  const tag = b.slice();
  new DataView(tag.buffer).setUint32(new DataView(tag.buffer).getUint32(8), 7);
  assert.throws(() => Fdt.parse(tag), /bad structure tag/);
});
