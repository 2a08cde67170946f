// A bounded explorer pass over seed003-subchannel-clear-start (the full acceptance runs are
// `tsvmm explore seed003-subchannel-clear-start --variant naive|shipped --strategy pct --depth 3
// --runs 2000|10000` and `--strategy dfs --preemptions 2`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore } from '../../src/explore/explorer.js';
import { getScenario } from '../../src/explore/scenarios/index.js';
import type { Scenario } from '../../src/explore/scenario.js';

const NAME = 'seed003-subchannel-clear-start';

function scenario(): Scenario {
  const s = getScenario(NAME);
  assert.ok(s, `${NAME} is registered`);
  return s;
}

/** The seed's own failure: START's program freed by CLEAR's IRB, and the IRB misattributed. */
const SEED_BUG = /cp gen \d+ freed while host start #\d+ still uses it/;
/** The naive layer's other symptom: a start refused although the guest's subchannel is idle. */
const CC_BREACH = /guest SSCH \(.*\) got cc 2 where the architecture gives cc 0/;

test('seed003 naive: caught by PCT depth 3 within 500 schedules, and the replay reproduces it', async () => {
  const r = await explore(scenario(), 'naive', { strategy: 'pct', depth: 3, runs: 500, seed: 1 });
  assert.ok(r.failure, 'naive variant not caught');
  assert.equal(r.failure.kind, 'invariant');
  assert.ok(SEED_BUG.test(r.failure.message) || CC_BREACH.test(r.failure.message), r.failure.message);
  assert.match(r.failure.replay, /^s1:[0-9x-]+@[0-9a-f]{8}$/);
  const again = await explore(scenario(), 'naive', { strategy: 'pct', replay: r.failure.replay });
  assert.equal(again.runs, 1);
  assert.equal(again.failure?.kind, r.failure.kind);
  assert.equal(again.failure.message, r.failure.message);
  assert.equal(again.failure.replay, r.failure.replay);
  // The same seed gives the same result.
  const twice = await explore(scenario(), 'naive', { strategy: 'pct', depth: 3, runs: 500, seed: 1 });
  assert.equal(twice.failure?.run, r.failure.run);
  assert.equal(twice.failure?.replay, r.failure.replay);
});

test("seed003 naive: PCT finds the seed's window itself (START's program freed by CLEAR's IRB) and the refused start", async () => {
  const found = new Set<string>();
  let seedBug = '';
  for (let seed = 1; seed <= 40 && found.size < 2; seed++) {
    const r = await explore(scenario(), 'naive', { strategy: 'pct', depth: 3, runs: 500, seed });
    assert.ok(r.failure, `seed ${seed}: naive not caught`);
    if (SEED_BUG.test(r.failure.message)) {
      found.add('seed-bug');
      seedBug = r.failure.message;
    }
    if (CC_BREACH.test(r.failure.message)) found.add('cc');
  }
  assert.deepEqual([...found].sort(), ['cc', 'seed-bug']);
  // The report names the clear's status presented to the guest as START's completion.
  assert.match(seedBug, /guest interrupt #\d+ \(FC=clear\) taken as start completion but answers host clear#\d+/);
  // DFS meets the window on its first schedule.
  const dfs = await explore(scenario(), 'naive', { strategy: 'dfs', preemptions: 2 });
  assert.equal(dfs.failure?.run, 0);
  assert.match(dfs.failure.message, SEED_BUG);
});

test('seed003 shipped: 500 PCT depth-3 schedules and every DFS schedule within preemption bound 2 pass', async () => {
  const pct = await explore(scenario(), 'shipped', { strategy: 'pct', depth: 3, runs: 500, seed: 11 });
  assert.equal(pct.failure, null, pct.failure?.message);
  assert.equal(pct.runs, 500);
  const random = await explore(scenario(), 'shipped', { strategy: 'random', runs: 300, seed: 3 });
  assert.equal(random.failure, null, random.failure?.message);
  const dfs = await explore(scenario(), 'shipped', { strategy: 'dfs', preemptions: 2, runs: 20_000 });
  assert.equal(dfs.failure, null, dfs.failure?.message);
  assert.equal(dfs.exhausted, true);
  assert.ok(dfs.runs > 100, `DFS explored ${dfs.runs} schedules`);
});

test('seed003-vfio-regions: naive is caught in the seed window at the region interface; shipped passes PCT and DFS bound 2', async () => {
  const s = getScenario('seed003-vfio-regions');
  assert.ok(s);
  const naive = await explore(s, 'naive', { strategy: 'pct', depth: 3, runs: 500, seed: 1 });
  assert.ok(naive.failure, 'naive variant not caught');
  assert.match(naive.failure.message, /cp gen \d+ freed while host start #\d+ still uses it/);
  const again = await explore(s, 'naive', { strategy: 'pct', replay: naive.failure.replay });
  assert.equal(again.failure?.message, naive.failure.message);
  const pct = await explore(s, 'shipped', { strategy: 'pct', depth: 3, runs: 500, seed: 11 });
  assert.equal(pct.failure, null, pct.failure?.message);
  const dfs = await explore(s, 'shipped', { strategy: 'dfs', preemptions: 2, runs: 50_000 });
  assert.equal(dfs.failure, null, dfs.failure?.message);
  assert.equal(dfs.exhausted, true);
});
