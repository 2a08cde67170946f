// Bounded explorer passes over the two DMA scenarios (src/explore/scenarios/
// seed000-nested-dma.ts and seed004-iommu-invalidation.ts), naive vs shipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore } from '../../src/explore/explorer.js';
import { getScenario } from '../../src/explore/scenarios/index.js';
import type { Scenario } from '../../src/explore/scenario.js';

function scenario(name: string): Scenario {
  const s = getScenario(name);
  assert.ok(s, name);
  return s;
}

test('seed000-nested-dma: naive self-deadlocks on the device lock (lockdep AA); replay reproduces it', async () => {
  const r = await explore(scenario('seed000-nested-dma'), 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
  assert.ok(r.failure, 'naive variant not caught');
  assert.equal(r.failure.kind, 'lockdep');
  assert.match(r.failure.message, /AA deadlock.*dev-[abc]\.lock/);
  const again = await explore(scenario('seed000-nested-dma'), 'naive', { strategy: 'pct', replay: r.failure.replay });
  assert.equal(again.failure?.message, r.failure.message);
});

test('seed004-iommu-invalidation: naive writes the old page after completion; replay reproduces it', async () => {
  const r = await explore(scenario('seed004-iommu-invalidation'), 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
  assert.ok(r.failure, 'naive variant not caught');
  assert.equal(r.failure.kind, 'invariant');
  assert.match(r.failure.message, /old translation after IOFENCE\.C completed/);
  const again = await explore(scenario('seed004-iommu-invalidation'), 'naive', { strategy: 'pct', replay: r.failure.replay });
  assert.equal(again.failure?.message, r.failure.message);
});

for (const name of ['seed000-nested-dma', 'seed004-iommu-invalidation']) {
  test(`${name}: shipped survives 300 PCT schedules and exhaustive DFS with preemption bound 2`, async () => {
    const pct = await explore(scenario(name), 'shipped', { strategy: 'pct', depth: 3, runs: 300, seed: 7 });
    assert.equal(pct.failure, null, pct.failure?.message);
    const dfs = await explore(scenario(name), 'shipped', { strategy: 'dfs', preemptions: 2, runs: 20000 });
    assert.equal(dfs.failure, null, dfs.failure?.message);
    assert.equal(dfs.exhausted, true);
  });
}
