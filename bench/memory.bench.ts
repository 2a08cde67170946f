/**
 * Memory core benchmarks: flat-view lookup at several sizes, a RAM load and an
 * I/O read through the AddressSpace API, and a 64 KiB write into RAM against
 * a TypedArray.set of the same size.
 */
import { round, timeNs, type Report } from './harness.js';
import { MemoryRegion } from '../src/memory/region.js';
import { AddressSpace } from '../src/memory/address-space.js';
import { MEMTXATTRS_UNSPECIFIED as U } from '../src/memory/types.js';

export const group = 'memory';

/** A deterministic PRNG so runs are comparable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lookupNs(n: number): number {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const backing = MemoryRegion.ram('backing', 0x1000);
  const io = MemoryRegion.io('dev', 0x1000, { read: () => 0 });
  // Alternate aliases and I/O windows with gaps between them so no ranges merge.
  for (let i = 0; i < n; i++) {
    const r = i % 2 === 0 ? MemoryRegion.alias(`a${i}`, backing, 0, 0x1000) : MemoryRegion.alias(`i${i}`, io, 0, 0x1000);
    sys.addSubregion(i * 0x2000, r);
  }
  const as = new AddressSpace(sys, `bench${n}`);
  const view = as.flatView();
  if (view.ranges.length !== n) throw new Error(`expected ${n} ranges, got ${view.ranges.length}`);
  const rand = rng(n);
  const addrs = new Float64Array(1 << 16);
  for (let i = 0; i < addrs.length; i++) addrs[i] = Math.floor(rand() * n * 0x2000);
  let sink = 0;
  const ns = timeNs((i) => {
    sink = (sink + view.findIndex(addrs[i & 0xffff]!)) | 0;
  }, 2_000_000);
  as.destroy();
  if (sink === 0.5) console.error(sink);
  return ns;
}

export async function run(report: Report): Promise<void> {
  for (const n of [10, 100, 1000, 10000]) {
    report({ name: `memory.lookup_ns.${n}`, value: round(lookupNs(n)), unit: 'ns' });
  }

  const sys = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 1 << 24);
  sys.addSubregion(0x8000_0000, ram);
  sys.addSubregion(0x1000, MemoryRegion.rom('rom', 0x1000));
  sys.addSubregion(0x1000_0000, MemoryRegion.io('serial', 8, { read: () => 0x60, write: () => {} }));
  sys.addSubregion(0x0200_0000, MemoryRegion.io('clint', 0x10000, { read: (o) => o, write: () => {} }));
  const as = new AddressSpace(sys, 'memory');

  const rand = rng(1);
  const offs = new Float64Array(1 << 16);
  for (let i = 0; i < offs.length; i++) offs[i] = 0x8000_0000 + (Math.floor(rand() * ((1 << 20) - 8)) & ~3);
  let sink = 0;
  const ramNs = timeNs((i) => {
    as.load(offs[i & 0xffff]!, 4, U);
    sink = (sink + as.valLo) | 0;
  }, 5_000_000);
  report({ name: 'memory.ram_load32_ns', value: round(ramNs), unit: 'ns' });

  const ioNs = timeNs(() => {
    as.load(0x1000_0004, 4, U);
    sink = (sink + as.valLo) | 0;
  }, 5_000_000);
  report({ name: 'memory.io_read32_ns', value: round(ioNs), unit: 'ns' });

  const buf = new Uint8Array(65536);
  for (let i = 0; i < buf.length; i++) buf[i] = i * 7;
  const bytes = ram.ramBytes();
  const iters = 20_000;
  const asNs = timeNs((i) => {
    as.write(0x8000_0000 + (i & 63) * 65536, buf);
  }, iters);
  const setNs = timeNs((i) => {
    bytes.set(buf, (i & 63) * 65536);
  }, iters);
  const gbps = (ns: number): number => 65536 / ns; // bytes per ns = GB/s
  report({
    name: 'memory.write64k_gbps',
    value: round(gbps(asNs)),
    unit: 'GB/s',
    baseline: round(gbps(setNs)),
    ratio: round(gbps(asNs) / gbps(setNs)),
  });
  as.destroy();
  if (sink === 0.5) console.error(sink);
}
