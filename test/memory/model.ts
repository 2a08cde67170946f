/**
 * Test support: random memory trees and a brute-force resolver written
 * straight from QEMU's rules, independent of the renderer.
 */
import { MemoryRegion } from '../../src/memory/region.js';

export interface Leaf {
  mr: MemoryRegion;
  offset: number;
  readonly: boolean;
}

/** Children order from the rules: higher priority first; among equal priorities, the most recently (re)added first. */
export function orderedChildren(mr: MemoryRegion, addOrder: Map<MemoryRegion, number>): MemoryRegion[] {
  return [...mr.subregions].sort((a, b) => b.priority - a.priority || addOrder.get(b)! - addOrder.get(a)!);
}

/** What answers at `addr` (relative to mr's start), given mr is enabled. */
function resolveIn(mr: MemoryRegion, addr: number, readonly: boolean, addOrder: Map<MemoryRegion, number>): Leaf | null {
  if (addr < 0 || addr >= mr.size) return null;
  readonly = readonly || mr.readonly;
  if (mr.alias) {
    const t = mr.alias;
    if (!t.enabled) return null;
    return resolveIn(t, addr + mr.aliasOffset, readonly, addOrder);
  }
  for (const c of orderedChildren(mr, addOrder)) {
    if (!c.enabled) continue;
    if (addr >= c.addr && addr < c.addr + c.size) {
      const r = resolveIn(c, addr - c.addr, readonly, addOrder);
      if (r) return r;
    }
  }
  if (mr.kind === 'container') return null;
  return { mr, offset: addr, readonly };
}

export function resolve(root: MemoryRegion, addr: number, addOrder: Map<MemoryRegion, number>): Leaf | null {
  if (!root.enabled) return null;
  return resolveIn(root, addr, false, addOrder);
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

export interface RandomTree {
  root: MemoryRegion;
  regions: MemoryRegion[];
  addOrder: Map<MemoryRegion, number>;
  /** Call after any (re)add so the model knows the order. */
  touch(mr: MemoryRegion): void;
}

export const SPACE = 0x200;

/**
 * Build a random tree: regions are created in order, aliases point at earlier
 * regions and containers adopt earlier unparented regions, so it is acyclic.
 */
export function randomTree(seed: number): RandomTree {
  const r = prng(seed);
  const regions: MemoryRegion[] = [];
  const addOrder = new Map<MemoryRegion, number>();
  let counter = 0;
  const touch = (mr: MemoryRegion): void => {
    addOrder.set(mr, ++counter);
  };
  const n = 2 + r(12);
  const ops = { read: (o: number) => o, write: () => {} };
  for (let i = 0; i < n; i++) {
    const size = 1 + r(r(2) ? 0x40 : 0x180);
    const k = r(7);
    let mr: MemoryRegion;
    if (k === 0) mr = MemoryRegion.ram(`ram${i}`, size);
    else if (k === 1) mr = MemoryRegion.io(`io${i}`, size, ops);
    else if (k === 2) {
      const j = r(3);
      mr = j === 0 ? MemoryRegion.rom(`rom${i}`, size) : j === 1 ? MemoryRegion.reservation(`res${i}`, size) : MemoryRegion.romDevice(`romd${i}`, size, ops);
      if (mr.kind === 'romDevice' && r(2)) mr.setRomdMode(false);
    }
    else if (k === 3 && regions.length > 0) {
      const t = regions[r(regions.length)]!;
      mr = MemoryRegion.alias(`alias${i}`, t, r(t.size + 8), size);
    } else {
      mr = MemoryRegion.container(`c${i}`, size);
      for (const x of regions) {
        if (!x.parent && r(2)) {
          mr.addSubregion(r(size + 8), x, r(5) - 2);
          touch(x);
        }
      }
    }
    if (r(6) === 0) mr.setEnabled(false);
    if (r(8) === 0) mr.setReadonly(true);
    regions.push(mr);
  }
  const root = MemoryRegion.container('root', SPACE);
  for (const x of regions) {
    if (!x.parent && r(4) !== 0) {
      root.addSubregion(r(SPACE), x, r(5) - 2);
      touch(x);
    }
  }
  return { root, regions, addOrder, touch };
}
