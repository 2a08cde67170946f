import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { FlatView } from '../../src/memory/flatview.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { memoryTransaction } from '../../src/memory/transaction.js';

const ops = { read: () => 0x5a5a5a5a, write: () => {} };

test('a romd-only commit patches the view: same result as a fresh render, new epoch, listeners told', () => {
  const sys = MemoryRegion.container('sys', 2 ** 32);
  const flash = MemoryRegion.romDevice('flash', 0x10000, ops);
  flash.ramBytes().fill(0x11);
  sys.addSubregion(0x20000000, flash);
  sys.addSubregion(0x80000000, MemoryRegion.ram('ram', 0x10000));
  const as = new AddressSpace(sys, 'memory', { log: () => {} });
  const events: string[] = [];
  as.addListener({ regionAdd: (s) => events.push(`add ${s.mr.name} romd=${s.romd}`), regionDel: (s) => events.push(`del ${s.mr.name} romd=${s.romd}`) });
  events.length = 0;
  const before = as.flatView();
  assert.equal(as.ldub(0x20000000), 0x11, 'romd: reads come from the array');

  flash.setRomdMode(false);
  const after = as.flatView();
  assert.ok(after.epoch > before.epoch);
  assert.deepEqual(
    after.ranges.map((r) => [r.start, r.size, r.mr.name, r.romd, r.kind]),
    FlatView.render(sys, 0).ranges.map((r) => [r.start, r.size, r.mr.name, r.romd, r.kind]),
  );
  assert.equal(as.ldub(0x20000000), 0x5a, 'i/o mode: reads go to the ops');
  assert.deepEqual(events, ['del flash romd=true', 'add flash romd=false']);

  // Mixed with a structural change in one transaction, the full render runs and is still right.
  memoryTransaction(() => {
    flash.setRomdMode(true);
    flash.setAddress(0x21000000);
  });
  assert.equal(as.ldub(0x21000000), 0x11);
  assert.equal(as.ldub(0x20000000), 0xff, 'old address unassigned');
  as.destroy();
});
