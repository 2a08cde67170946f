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

// A bounded explorer pass per scenario and variant (the full acceptance runs
// are `tsvmm explore NAME --variant V --strategy pct --depth 3 --runs 2000/10000`).
for (const name of ['seed001-pci-config', 'seed002-region-removal']) {
  test(`${name}: naive is caught by PCT depth 3 with a replay that reproduces it`, async () => {
    const r = await explore(scenario(name), 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
    assert.ok(r.failure, 'naive variant not caught');
    const again = await explore(scenario(name), 'naive', { strategy: 'pct', replay: r.failure.replay });
    assert.equal(again.failure?.kind, r.failure.kind);
    assert.equal(again.failure.message, r.failure.message);
  });

  test(`${name}: naive needs an interleaving (no schedule without preemptions fails)`, async () => {
    const dfs = await explore(scenario(name), 'naive', { strategy: 'dfs', preemptions: 0, runs: 20000 });
    assert.equal(dfs.failure, null, dfs.failure?.message);
    assert.equal(dfs.exhausted, true);
  });

  test(`${name}: shipped survives 500 PCT schedules and DFS with preemption bound 2`, async () => {
    const pct = await explore(scenario(name), 'shipped', { strategy: 'pct', depth: 3, runs: 500, seed: 11 });
    assert.equal(pct.failure, null, pct.failure?.message);
    // (Bound 2 is the acceptance run on the CLI; bound 1 keeps the suite cheap.)
    const dfs = await explore(scenario(name), 'shipped', { strategy: 'dfs', preemptions: 1, runs: 20000 });
    assert.equal(dfs.failure, null, dfs.failure?.message);
    assert.equal(dfs.exhausted, true);
  });
}

test('seed001 naive-abba: the nesting annotation hides the ABBA from the validator, so no schedule without preemptions fails; PCT finds the deadlock of two interleaved vCPUs', async () => {
  const dfs = await explore(scenario('seed001-pci-config'), 'naive-abba', { strategy: 'dfs', preemptions: 0, runs: 20000 });
  assert.equal(dfs.failure, null, dfs.failure?.message);
  assert.equal(dfs.exhausted, true);
  let deadlock: string | null = null;
  for (let seed = 1; seed <= 20 && deadlock === null; seed++) {
    const x = await explore(scenario('seed001-pci-config'), 'naive-abba', { strategy: 'pct', depth: 3, runs: 2000, seed });
    assert.ok(x.failure, `seed ${seed}: naive-abba not caught`);
    if (x.failure.kind === 'deadlock') {
      deadlock = x.failure.message;
      const again = await explore(scenario('seed001-pci-config'), 'naive-abba', { strategy: 'pct', replay: x.failure.replay });
      assert.equal(again.failure?.kind, 'deadlock');
    }
  }
  assert.ok(deadlock !== null, 'no deadlock found');
});

test('seed001 naive: the config access routed before the unplug reaches the freed function', async () => {
  const r = await explore(scenario('seed001-pci-config'), 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
  assert.equal(r.failure?.kind, 'use-after-removal');
  assert.match(r.failure.message, /device 'fn2' touched at config read/);
});

test('seed002 naive: the DMA still in flight writes the buffer the device freed on unparent', async () => {
  const r = await explore(scenario('seed002-region-removal'), 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
  assert.equal(r.failure?.kind, 'invariant');
  assert.match(r.failure.message, /DMA wrote into ide0's buffer after the device freed it/);
});
