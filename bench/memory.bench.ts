/**
 * Memory core benchmarks: flat-view lookup at several sizes, a RAM load and an
 * I/O read through the AddressSpace API, and a 64 KiB write into RAM against
 * a TypedArray.set of the same size.
 *
 * Each figure is the best of many short rounds with the loop written inline
 * (no callback per iteration): on a shared CI machine the minimum is the
 * estimate least disturbed by other processes.
 */
import { round, type Report } from './harness.js';
import { MemoryRegion } from '../src/memory/region.js';
import { AddressSpace } from '../src/memory/address-space.js';
import type { FlatView } from '../src/memory/flatview.js';
import { MEMTXATTRS_UNSPECIFIED as U } from '../src/memory/types.js';

export const group = 'memory';

const ROUNDS = 25;

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

/** Best ns per iteration of `round(iters)` over ROUNDS rounds. */
function bestNs(roundFn: (iters: number) => number, iters: number): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    sink ^= roundFn(iters);
    const t1 = process.hrtime.bigint();
    best = Math.min(best, Number(t1 - t0) / iters);
  }
  if (sink === 0.5) console.error(sink);
  return best;
}

function lookupRound(view: FlatView, addrs: Float64Array, iters: number): number {
  let s = 0;
  for (let i = 0; i < iters; i++) s = (s + view.findIndex(addrs[i & 0xffff]!)) | 0;
  return s;
}

function lookupNs(n: number): number {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const backing = MemoryRegion.ram('backing', 0x4000);
  const io = MemoryRegion.io('dev', 0x4000, { read: () => 0 });
  // Aliases of RAM and of an I/O region with random sizes (128 B .. 16 KiB) and
  // random gaps (often none), so many pages hold several ranges or a hole.
  const rand = rng(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const size = 0x80 + Math.floor(rand() * 0x3f80);
    const target = i % 2 === 0 ? backing : io;
    sys.addSubregion(at, MemoryRegion.alias(`a${i}`, target, 0, size));
    at += size + (rand() < 0.5 ? 0 : Math.floor(rand() * 0x2000));
  }
  const as = new AddressSpace(sys, `bench${n}`);
  const view = as.flatView();
  if (view.ranges.length !== n) throw new Error(`expected ${n} ranges, got ${view.ranges.length}`);
  const addrs = new Float64Array(1 << 16);
  for (let i = 0; i < addrs.length; i++) addrs[i] = Math.floor(rand() * at);
  const ns = bestNs((iters) => lookupRound(view, addrs, iters), 200_000);
  as.destroy();
  return ns;
}

function ramRound(as: AddressSpace, offs: Float64Array, iters: number): number {
  let s = 0;
  for (let i = 0; i < iters; i++) {
    as.load(offs[i & 0xffff]!, 4, U);
    s = (s + as.valLo) | 0;
  }
  return s;
}

function ioRound(as: AddressSpace, iters: number): number {
  let s = 0;
  for (let i = 0; i < iters; i++) {
    as.load(0x1000_0004, 4, U);
    s = (s + as.valLo) | 0;
  }
  return s;
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
  report({ name: 'memory.ram_load32_ns', value: round(bestNs((n) => ramRound(as, offs, n), 500_000)), unit: 'ns' });
  report({ name: 'memory.io_read32_ns', value: round(bestNs((n) => ioRound(as, n), 500_000)), unit: 'ns' });

  const buf = new Uint8Array(65536);
  for (let i = 0; i < buf.length; i++) buf[i] = i * 7;
  const bytes = ram.ramBytes();
  const iters = 2_000;
  // Interleave the two measurements so both see the same machine load.
  let asBest = Infinity;
  let setBest = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    asBest = Math.min(
      asBest,
      bestNsOnce(() => {
        for (let i = 0; i < iters; i++) as.write(0x8000_0000 + (i & 63) * 65536, buf);
      }, iters),
    );
    setBest = Math.min(
      setBest,
      bestNsOnce(() => {
        for (let i = 0; i < iters; i++) bytes.set(buf, (i & 63) * 65536);
      }, iters),
    );
  }
  const gbps = (ns: number): number => 65536 / ns; // bytes per ns = GB/s
  report({
    name: 'memory.write64k_gbps',
    value: round(gbps(asBest)),
    unit: 'GB/s',
    baseline: round(gbps(setBest)),
    ratio: round(gbps(asBest) / gbps(setBest)),
  });
  as.destroy();
}

function bestNsOnce(fn: () => void, iters: number): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / iters;
}
