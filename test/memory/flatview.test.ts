import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryError } from '../../src/memory/errors.js';
import type { FlatView } from '../../src/memory/flatview.js';
import type { MemoryListener, MemoryRegionSection } from '../../src/memory/listener.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { memoryTransaction } from '../../src/memory/transaction.js';
import { prng, randomTree, resolve, SPACE, type RandomTree } from './model.js';

const quiet = { log: (): void => {} };

/** The radix lookup's reference: a plain binary search over the view's ranges. */
function binaryIndex(view: FlatView, addr: number): number {
  const { starts, ends } = view;
  let hi = starts.length - 1;
  if (hi < 0 || !(addr >= starts[0]!)) return -1;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= addr) lo = mid;
    else hi = mid - 1;
  }
  return addr < ends[lo]! ? lo : -1;
}

function checkView(t: RandomTree, view: FlatView): void {
  const ranges = view.ranges;
  for (let i = 0; i < ranges.length; i++) {
    const a = ranges[i]!;
    assert.ok(a.size > 0);
    assert.ok(a.mr.kind !== 'alias' && a.mr.kind !== 'container');
    if (i > 0) {
      const p = ranges[i - 1]!;
      assert.ok(p.end <= a.start, 'sorted and disjoint');
      const mergeable = p.end === a.start && p.mr === a.mr && p.offsetInRegion + p.size === a.offsetInRegion && p.readonly === a.readonly && p.romd === a.romd;
      assert.ok(!mergeable, `adjacent compatible ranges not merged at ${a.start}`);
    }
  }
  for (let addr = 0; addr < SPACE + 8; addr++) {
    const want = resolve(t.root, addr, t.addOrder);
    const i = view.findIndex(addr);
    assert.equal(i, binaryIndex(view, addr), `radix and binary search agree at ${addr}`);
    if (!want) {
      assert.equal(i, -1, `address ${addr} should be unassigned, got ${i >= 0 ? ranges[i]!.mr.name : ''}`);
      // The gap ends where the next range starts (the accessors' step over it).
      const next = ranges.find((r) => r.start > addr);
      assert.equal(view.nextStart(addr), next ? next.start : Infinity, `gap at ${addr} ends`);
      continue;
    }
    assert.ok(i >= 0, `address ${addr} should hit ${want.mr.name}`);
    const fr = ranges[i]!;
    assert.equal(fr.mr, want.mr, `address ${addr}: ${fr.mr.name} vs ${want.mr.name}`);
    assert.equal(fr.offsetInRegion + (addr - fr.start), want.offset, `address ${addr}: offset`);
    assert.equal(fr.readonly, want.readonly, `address ${addr}: readonly`);
    assert.equal(fr.romd, want.mr.romd, `address ${addr}: romd`);
  }
}

test('flat views agree with a brute-force resolver on random trees', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const t = randomTree(seed);
      const as = new AddressSpace(t.root, 'prop', quiet);
      try {
        checkView(t, as.flatView());
      } finally {
        as.destroy();
      }
    }),
    { numRuns: 300 },
  );
});

function key(s: MemoryRegionSection): string {
  return `${s.offsetWithinAddressSpace}+${s.size}:${s.mr.name}@${s.offsetWithinRegion}:${s.readonly}:${s.romd}`;
}

class RecordingListener implements MemoryListener {
  readonly set = new Set<string>();
  readonly regions = new Map<string, MemoryRegion>();
  calls = 0;
  constructor(readonly priority = 0) {}
  regionAdd(s: MemoryRegionSection): void {
    const k = key(s);
    assert.ok(!this.set.has(k), `add of a present range ${k}`);
    this.set.add(k);
    this.calls++;
  }
  regionDel(s: MemoryRegionSection): void {
    const k = key(s);
    assert.ok(this.set.has(k), `del of an absent range ${k}`);
    this.set.delete(k);
    this.calls++;
  }
  regionNop(s: MemoryRegionSection): void {
    assert.ok(this.set.has(key(s)), 'nop of an absent range');
  }
}

function viewKeys(as: AddressSpace): Set<string> {
  return new Set(
    as.flatView().ranges.map((r) => `${r.start}+${r.size}:${r.mr.name}@${r.offsetInRegion}:${r.readonly}:${r.romd}`),
  );
}

/** One random mutation; returns false if it was rejected as a setup error (no change made). */
function mutate(t: RandomTree, r: (n: number) => number): void {
  const all = [t.root, ...t.regions];
  const mr = t.regions[r(t.regions.length)]!;
  try {
    switch (r(7)) {
      case 0:
        mr.setEnabled(!mr.enabled);
        break;
      case 1:
        if (mr.parent) {
          // A move re-adds the region (the newest among equal priorities) only when the
          // address changes, as QEMU's memory_region_set_address: to the same address it is
          // nothing (the model's order must not change either).
          const to = r(SPACE);
          const moved = to !== mr.addr;
          mr.setAddress(to);
          if (moved) t.touch(mr);
        }
        break;
      case 2:
        if (mr.kind !== 'ram' && mr.kind !== 'rom') mr.setSize(1 + r(0x180));
        break;
      case 3:
        if (mr.kind === 'alias') mr.setAliasOffset(r(0x100));
        break;
      case 4:
        if (mr.kind === 'romDevice' && r(2)) mr.setRomdMode(!mr.romd);
        else mr.setReadonly(!mr.readonly);
        break;
      case 5:
        if (mr.parent) mr.parent.removeSubregion(mr);
        break;
      case 6: {
        const c = all.filter((x) => x.kind === 'container')[0]!;
        const target = all[r(all.length)]!;
        if (!mr.parent && target.kind === 'container') {
          target.addSubregion(r(SPACE), mr, r(5) - 2);
          t.touch(mr);
        } else if (!mr.parent) {
          c.addSubregion(r(SPACE), mr, r(5) - 2);
          t.touch(mr);
        }
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof MemoryError)) throw e; // cycles: rejected at the call, nothing changed
  }
}

test('listener calls applied to the old view give exactly the new view', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer(), (seed, seed2) => {
      const t = randomTree(seed);
      const r = prng(seed2);
      const as = new AddressSpace(t.root, 'prop', quiet);
      const early = new RecordingListener(1);
      as.addListener(early);
      try {
        const late = new RecordingListener(-1);
        for (let step = 0; step < 12; step++) {
          const before = as.epoch;
          const beforeView = as.flatView();
          if (r(2)) {
            memoryTransaction(() => {
              const n = 1 + r(4);
              for (let k = 0; k < n; k++) {
                mutate(t, r);
                assert.equal(as.flatView(), beforeView, 'no publication inside a transaction');
              }
            });
          } else {
            mutate(t, r);
          }
          if (step === 3) as.addListener(late); // replayed the current view
          assert.deepEqual(early.set, viewKeys(as));
          if (step >= 3) assert.deepEqual(late.set, viewKeys(as));
          if (as.flatView() !== beforeView) assert.ok(as.epoch > before, 'epoch increases on publication');
          else assert.equal(as.epoch, before);
          checkView(t, as.flatView());
        }
        as.removeListener(late);
        assert.equal(late.set.size, 0);
      } finally {
        as.destroy();
      }
      assert.equal(early.set.size, 0, 'destroy deletes every range');
    }),
    { numRuns: 150 },
  );
});

test('listeners are called in priority order for add and reverse order for del', () => {
  const root = MemoryRegion.container('root', 0x1000);
  const as = new AddressSpace(root, 'order', quiet);
  const calls: string[] = [];
  const mk = (name: string, priority: number): MemoryListener => ({
    priority,
    regionAdd: (s) => calls.push(`${name}+${s.mr.name}`),
    regionDel: (s) => calls.push(`${name}-${s.mr.name}`),
  });
  as.addListener(mk('b', 10));
  as.addListener(mk('a', -5));
  as.addListener(mk('c', 10));
  const ram = MemoryRegion.ram('ram', 0x100);
  root.addSubregion(0, ram);
  assert.deepEqual(calls, ['a+ram', 'b+ram', 'c+ram']);
  calls.length = 0;
  root.removeSubregion(ram);
  assert.deepEqual(calls, ['c-ram', 'b-ram', 'a-ram']);
  as.destroy();
});

test('address spaces with the same effective root share one view', () => {
  const sys = MemoryRegion.container('system', 0x10000);
  sys.addSubregion(0x100, MemoryRegion.ram('ram', 0x100));
  const a = new AddressSpace(sys, 'memory', quiet);
  const b = new AddressSpace(sys, 'cpu-memory-0', quiet);
  const whole = MemoryRegion.alias('whole', sys, 0, 0x10000);
  const c = new AddressSpace(whole, 'alias-of-system', quiet);
  assert.equal(a.flatView(), b.flatView());
  assert.equal(a.flatView(), c.flatView());
  sys.addSubregion(0x1000, MemoryRegion.ram('ram2', 0x100));
  assert.equal(a.flatView(), b.flatView());
  assert.equal(a.flatView(), c.flatView());
  assert.equal(a.flatView().ranges.length, 2);
  const bm = MemoryRegion.container('bus master container', 0x10000);
  const d = new AddressSpace(bm, 'pci', quiet);
  assert.equal(d.flatView().root, null);
  assert.equal(d.flatView().ranges.length, 0);
  for (const x of [a, b, c, d]) x.destroy();
});

test('setup errors throw MemoryError at the call', () => {
  const c = MemoryRegion.container('c', 0x1000);
  const ram = MemoryRegion.ram('ram', 0x100);
  c.addSubregion(0, ram);
  assert.throws(() => c.addSubregion(0x10, ram), /already a subregion/);
  assert.throws(() => MemoryRegion.ram('zero', 0), MemoryError);
  assert.throws(() => MemoryRegion.container('neg', -1), MemoryError);
  assert.throws(() => MemoryRegion.container('frac', 1.5), MemoryError);
  assert.throws(() => MemoryRegion.container('huge', 2 ** 60), MemoryError);
  assert.doesNotThrow(() => MemoryRegion.container('whole', 2 ** 64));
  assert.throws(() => c.addSubregion(2 ** 53, MemoryRegion.ram('far', 1)), MemoryError);
  const big = MemoryRegion.container('big', 2 ** 64);
  assert.throws(() => big.addSubregion(1, MemoryRegion.container('w2', 2 ** 64)), /overflows/);
  const a = MemoryRegion.alias('a', c, 0, 0x1000);
  assert.throws(() => c.addSubregion(0x100, a), /cycle/);
  const inner = MemoryRegion.container('inner', 0x100);
  c.addSubregion(0x200, inner);
  const a2 = MemoryRegion.alias('a2', c, 0, 0x10);
  assert.throws(() => inner.addSubregion(0, a2), /cycle/);
  assert.throws(() => c.removeSubregion(a2), /not a subregion/);
  assert.throws(() => ram.setSize(0x200), /backing/);
  assert.throws(() => ram.setAliasOffset(4), /not an alias/);
  assert.throws(() => MemoryRegion.io('bad', 4, { impl: { max: 16 } }), MemoryError);
  assert.throws(() => MemoryRegion.io('bad', 4, { read: () => 0, impl: { max: 8 } }), MemoryError);
  assert.throws(() => MemoryRegion.io('bad', 4, { valid: { min: 3 } }), MemoryError);
  assert.throws(() => ram.disableReentrancyGuard(''), MemoryError);
  const excl = MemoryRegion.container('excl', 0x1000);
  excl.addSubregionNoOverlap(0x100, MemoryRegion.io('u0', 8, {}));
  excl.addSubregionNoOverlap(0x108, MemoryRegion.io('u1', 8, {}));
  assert.throws(() => excl.addSubregionNoOverlap(0x104, MemoryRegion.io('u2', 8, {})), /overlaps 'u[01]'/);
  assert.equal(excl.subregions.length, 2);
});

test('nested transactions publish once, at the outermost commit', () => {
  const root = MemoryRegion.container('root', 0x1000);
  const as = new AddressSpace(root, 'tx', quiet);
  let commits = 0;
  as.addListener({ commit: () => commits++ });
  commits = 0;
  const e0 = as.epoch;
  memoryTransaction(() => {
    root.addSubregion(0, MemoryRegion.ram('a', 0x10));
    memoryTransaction(() => {
      root.addSubregion(0x10, MemoryRegion.ram('b', 0x10));
    });
    assert.equal(as.epoch, e0);
    assert.equal(as.flatView().ranges.length, 0);
  });
  assert.equal(commits, 1);
  assert.equal(as.flatView().ranges.length, 2);
  assert.equal(as.flatView().epoch, as.epoch);
  // A listener may not change the map while a commit runs.
  const evil: MemoryListener = { regionAdd: () => root.addSubregion(0x800, MemoryRegion.ram('x', 1)) };
  assert.throws(() => as.addListener(evil), MemoryError);
  as.destroy();
});

test('large sparse maps: radix lookup equals binary search', () => {
  const r = prng(7);
  const sys = MemoryRegion.container('system', 2 ** 64);
  const ram = MemoryRegion.ram('ram', 0x10000);
  for (let i = 0; i < 300; i++) {
    const size = 1 + r(r(2) ? 0x10 : 0x10000);
    const addr = r(2) ? r(0x100000) * 8 : Math.floor((r(2 ** 20) * 2 ** 33) / 8) * 8 + r(0x10000);
    sys.addSubregion(addr, MemoryRegion.alias(`a${i}`, ram, 0, Math.min(size, 0x10000)), r(3));
  }
  const as = new AddressSpace(sys, 'sparse', quiet);
  const v = as.flatView();
  for (const fr of v.ranges) {
    for (const a of [fr.start - 1, fr.start, fr.start + 1, fr.end - 1, fr.end, fr.start + Math.floor(fr.size / 2)]) {
      if (a >= 0 && a < 2 ** 53) assert.equal(v.findIndex(a), binaryIndex(v, a), `at ${a}`);
    }
  }
  for (let i = 0; i < 20000; i++) {
    const a = r(2) ? r(0x800000) : r(2 ** 30) * 2 ** 23 + r(2 ** 23);
    assert.equal(v.findIndex(a), binaryIndex(v, a));
  }
  assert.equal(v.findIndex(2 ** 53), -1);
  assert.equal(v.findIndex(-1), -1);
  assert.equal(v.findIndex(NaN), -1);
  as.destroy();
});
