import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../../src/memory/region.js';
import { deviceOwner } from '../../../src/memory/owner.js';
import { makeSmpBoard, runSmp, smpProgram } from './smp-machine.js';

test('a device unplugged while two hart realms hammer it: no dispatch after retirement, unassigned (access fault, all-ones) afterwards', { timeout: 60_000 }, async () => {
  const b = makeSmpBoard(2, smpProgram('smp-unplug.S', { NHARTS: 2, GONE: 1000 }));
  let calls = 0;
  let retired = false;
  let stale = 0;
  const victim = MemoryRegion.io(
    'victim',
    0x100,
    {
      read: () => {
        if (retired) stale++;
        calls++;
        return 0x1234;
      },
      valid: { min: 4, max: 4 },
    },
    { owner: deviceOwner('victim') },
  );
  b.system.addSubregion(0x10000000, victim);
  const churn = MemoryRegion.io('churn', 0x1000, { read: () => 0 });
  const unplug = (async () => {
    // Wait until both harts have been served, then publish a burst of epochs and unplug.
    while (calls < 2000) await new Promise((r) => setTimeout(r, 2));
    for (let i = 0; i < 20; i++) {
      b.system.addSubregion(0x20000000 + i * 0x1000, churn);
      b.system.removeSubregion(churn);
      await new Promise((r) => setImmediate(r));
    }
    b.system.removeSubregion(victim);
    await b.smp.whenUnreachable(victim);
    retired = true;
    return calls;
  })();
  const r = await runSmp(b);
  const callsAtRetirement = await unplug;
  assert.equal(r, 0x5555, `finisher 0x${r.toString(16)}; logs: ${b.logs.join(' | ')}`);
  assert.equal(stale, 0, 'no handler call after the device was retired');
  assert.equal(calls, callsAtRetirement);
  assert.ok(calls >= 2000, `the device was busy before the unplug (${calls} reads)`);
  assert.equal(b.smp.home.staleRequests, 0);
  assert.ok(b.smp.unassignedAccesses() >= 2 * 1000, 'each hart read the unplugged address as unassigned');
});
