/**
 * Loaders fed by a host user (-kernel, -initrd, -dtb, -bios): well-formed
 * ELF64 executables, RISC-V Linux Image (PE) headers, newc cpio archives
 * (plain and gzip) and device tree blobs, then byte patches and truncation.
 *
 * Invariants: only the loader's typed error is thrown (LoaderError,
 * ImageCheckError, FdtError: a clear one-line message for the CLI, never a
 * RangeError); an ELF loads only inside the PT_LOAD ranges its headers
 * declare; a DTB that parses round-trips through toBlob unchanged.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { LoaderError, loadImage, type GuestWriter } from '../../../src/machine/loader.js';
import { ImageCheckError, checkInitrd, checkKernelImage } from '../../../src/machine/linux-image.js';
import { Fdt, FdtError } from '../../../src/machine/fdt.js';
import { target } from '../target.js';

const RAM = 0x80000000;
const RAM_SIZE = 0x100000;

const patchesArb = fc.array(fc.record({ at: fc.nat(), byte: fc.nat({ max: 255 }) }), { maxLength: 8 });
const truncArb = fc.option(fc.nat(), { freq: 4 });

function mutate(b: Uint8Array, patches: { at: number; byte: number }[], trunc: number | null, hot: number): Uint8Array {
  const out = b.slice();
  // Most patches land in the headers, where the parsing decisions are.
  for (const p of patches) if (out.length) out[(p.at % 3 === 0 ? p.at : p.at % Math.max(1, Math.min(hot, out.length))) % out.length] = p.byte;
  return trunc === null ? out : out.subarray(0, trunc % (out.length + 1));
}

// ---- ELF

interface Seg {
  paddr: number;
  filesz: number;
  extra: number;
}
const segArb = fc.record({ paddr: fc.oneof(fc.nat({ max: RAM_SIZE }).map((o) => RAM + o), fc.constantFrom(0, RAM - 8, RAM + RAM_SIZE - 4, 2 ** 40)), filesz: fc.nat({ max: 0x400 }), extra: fc.nat({ max: 0x400 }) });

function buildElf(segs: Seg[], entry: number): Uint8Array {
  const phoff = 64;
  let data = phoff + 56 * segs.length;
  const size = data + segs.reduce((n, s) => n + s.filesz, 0);
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 243, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(entry), true);
  dv.setBigUint64(32, BigInt(phoff), true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, segs.length, true);
  segs.forEach((s, i) => {
    const o = phoff + 56 * i;
    dv.setUint32(o, 1, true);
    dv.setBigUint64(o + 8, BigInt(data), true);
    dv.setBigUint64(o + 16, BigInt(s.paddr), true);
    dv.setBigUint64(o + 24, BigInt(s.paddr), true);
    dv.setBigUint64(o + 32, BigInt(s.filesz), true);
    dv.setBigUint64(o + 40, BigInt(s.filesz + s.extra), true);
    b.fill(0xa0 + i, data, data + s.filesz);
    data += s.filesz;
  });
  return b;
}

/** The PT_LOAD ranges the (possibly mutated) headers declare, read independently of the loader. */
function declared(b: Uint8Array): [number, number][] {
  if (b.length < 64) return [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(dv.getBigUint64(32, true));
  const ent = dv.getUint16(54, true);
  const n = dv.getUint16(56, true);
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const o = phoff + i * ent;
    if (o + 56 > b.length || ent < 56) break;
    if (dv.getUint32(o, true) !== 1) continue;
    const paddr = Number(dv.getBigUint64(o + 24, true));
    out.push([paddr, paddr + Number(dv.getBigUint64(o + 40, true))]);
  }
  return out;
}

function checkElf(input: { segs: Seg[]; patches: { at: number; byte: number }[]; trunc: number | null }): void {
  const bytes = mutate(buildElf(input.segs, RAM), input.patches, input.trunc, 64 + 56 * input.segs.length);
  const writes: [number, number][] = [];
  const inRam = (a: number, n: number): boolean => a >= RAM && a + n <= RAM + RAM_SIZE;
  const w: GuestWriter = {
    writeRam: (a, d) => (inRam(a, d.length) ? (writes.push([a, a + d.length]), true) : false),
    zeroRam: (a, n) => (inRam(a, n) ? (writes.push([a, a + n]), true) : false),
  };
  try {
    const r = loadImage(w, bytes, RAM + 0x1000, 'kernel');
    const ranges = r.elf ? declared(bytes) : [[RAM + 0x1000, RAM + 0x1000 + bytes.length] as [number, number]];
    for (const [s, e] of writes) {
      assert.ok(ranges.some(([a, b]) => s >= a && e <= b), `wrote 0x${s.toString(16)}..0x${e.toString(16)} outside what the image declares`);
      assert.ok(s >= r.start && e <= r.end);
    }
  } catch (e) {
    if (!(e instanceof LoaderError)) throw e;
    assert.ok(!e.message.includes('\n'), 'one-line error');
  }
}

// ---- Linux Image (PE/COFF header)

function buildImage(nsec: number, optSize: number, secs: { size: number; ptr: number }[], pe: number): Uint8Array {
  const len = Math.max(0x200, pe + 24 + optSize + 40 * nsec) + 0x100;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  b[0] = 0x4d;
  b[1] = 0x5a;
  b.set([0x52, 0x53, 0x43, 0x05], 0x38);
  dv.setUint32(0x3c, pe, true);
  b.set([0x50, 0x45, 0, 0], pe);
  dv.setUint16(pe + 6, nsec, true);
  dv.setUint16(pe + 20, optSize, true);
  secs.slice(0, nsec).forEach((s, i) => {
    const o = pe + 24 + optSize + 40 * i;
    b.set([0x2e, 0x74, 0x65, 0x78, 0x74], o);
    dv.setUint32(o + 16, s.size, true);
    dv.setUint32(o + 20, s.ptr, true);
  });
  return b;
}

// ---- cpio (newc)

function newc(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: number[] = [];
  const hex8 = (v: number): string => v.toString(16).padStart(8, '0');
  for (const e of [...entries, { name: 'TRAILER!!!', data: new Uint8Array(0) }]) {
    const hdr = '070701' + [0, 0o100644, 0, 0, 1, 0, e.data.length, 0, 0, 0, 0, e.name.length + 1, 0].map(hex8).join('');
    for (const c of hdr + e.name + '\0') parts.push(c.charCodeAt(0));
    while (parts.length % 4) parts.push(0);
    parts.push(...e.data);
    while (parts.length % 4) parts.push(0);
  }
  return new Uint8Array(parts);
}

const elfHeaderArb = fc.constantFrom(3, 62, 243, 183).map((m) => {
  const b = new Uint8Array(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  b[16] = 2;
  b[18] = m & 0xff;
  b[19] = m >> 8;
  return b;
});

// ---- DTB

function buildDtb(nodes: { name: string; props: { name: string; cells: number[] }[] }[]): Uint8Array {
  const fdt = new Fdt();
  fdt.root.setCells('#address-cells', 2);
  for (const n of nodes) {
    const node = fdt.root.ensureNode(n.name);
    for (const p of n.props) node.setCells(p.name, ...p.cells);
  }
  return fdt.toBlob();
}

type Input =
  | { kind: 'elf'; segs: Seg[]; patches: { at: number; byte: number }[]; trunc: number | null }
  | { kind: 'kernel'; bytes: Uint8Array }
  | { kind: 'initrd'; bytes: Uint8Array }
  | { kind: 'dtb'; bytes: Uint8Array };

const nameArb = fc.stringMatching(/^[a-z][a-z0-9,-]{0,10}(@[0-9a-f]{1,4})?$/);

const arbitrary: fc.Arbitrary<Input> = fc.oneof(
  fc.record({ kind: fc.constant('elf' as const), segs: fc.array(segArb, { minLength: 1, maxLength: 3 }), patches: patchesArb, trunc: truncArb }),
  fc
    .record({
      nsec: fc.nat({ max: 6 }),
      optSize: fc.oneof(fc.constant(0xf0), fc.nat({ max: 0xffff })),
      secs: fc.array(fc.record({ size: fc.nat({ max: 0x1000 }), ptr: fc.nat({ max: 0x1000 }) }), { maxLength: 6 }),
      pe: fc.oneof(fc.constant(0x40), fc.nat({ max: 0x300 })),
      patches: patchesArb,
      trunc: truncArb,
    })
    .map((k) => ({ kind: 'kernel' as const, bytes: mutate(buildImage(k.nsec, k.optSize, k.secs, k.pe), k.patches, k.trunc, 0x200) })),
  fc
    .record({
      entries: fc.array(fc.record({ name: fc.oneof(fc.constantFrom('init', 'bin/sh', 'lib/firmware/x.bin'), nameArb), data: fc.oneof(fc.uint8Array({ maxLength: 64 }), elfHeaderArb) }), { maxLength: 4 }),
      gzip: fc.boolean(),
      patches: patchesArb,
      trunc: truncArb,
    })
    .map((c) => {
      const raw = newc(c.entries);
      return { kind: 'initrd' as const, bytes: mutate(c.gzip ? new Uint8Array(gzipSync(raw)) : raw, c.patches, c.trunc, 120) };
    }),
  fc
    .record({
      nodes: fc.array(fc.record({ name: nameArb, props: fc.array(fc.record({ name: nameArb, cells: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 4 }) }), { maxLength: 3 }) }), { maxLength: 4 }),
      patches: patchesArb,
      trunc: truncArb,
    })
    .map((d) => ({ kind: 'dtb' as const, bytes: mutate(buildDtb(d.nodes), d.patches, d.trunc, 0x48) })),
);

function check(input: Input): void {
  switch (input.kind) {
    case 'elf':
      return checkElf(input);
    case 'kernel':
    case 'initrd':
      try {
        if (input.kind === 'kernel') checkKernelImage(input.bytes, 'Image');
        else checkInitrd(input.bytes, 'initrd');
      } catch (e) {
        if (!(e instanceof ImageCheckError)) throw e;
      }
      return;
    case 'dtb': {
      let fdt: Fdt;
      try {
        fdt = Fdt.parse(input.bytes);
      } catch (e) {
        if (!(e instanceof FdtError)) throw e;
        return;
      }
      const blob = fdt.toBlob();
      assert.deepEqual(Fdt.parse(blob).toBlob(), blob, 'a parsed tree round-trips');
    }
  }
}

export default target<Input>({
  name: 'loaders',
  summary: 'kernel/initrd/ELF/DTB loaders (-kernel, -initrd, -dtb, -bios images)',
  arbitrary,
  check,
  ciRuns: 300,
});
