import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore } from '../../../src/explore/explorer.js';
import { smpEpochRetire } from '../../../src/explore/scenarios/smp-epoch-retire.js';

test('smp-epoch-retire (naive): freeing on publication is caught by PCT depth 3, and the replay reproduces it', async () => {
  const r = await explore(smpEpochRetire, 'naive', { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
  assert.ok(r.failure, `not caught in ${r.runs} runs`);
  assert.match(r.failure.message, /stale dispatch/);
  const again = await explore(smpEpochRetire, 'naive', { strategy: 'pct', replay: r.failure.replay });
  assert.equal(again.failure?.message, r.failure.message);
});

test('smp-epoch-retire (shipped): retiring after the grace period survives PCT and DFS with 2 preemptions', async () => {
  const r = await explore(smpEpochRetire, 'shipped', { strategy: 'pct', depth: 3, runs: 1000, seed: 1 });
  assert.equal(r.failure, null, r.failure ? `${r.failure.message}\nreplay: ${r.failure.replay}` : '');
  const d = await explore(smpEpochRetire, 'shipped', { strategy: 'dfs', preemptions: 2, runs: 5000 });
  assert.equal(d.failure, null, d.failure ? `${d.failure.message}\nreplay: ${d.failure.replay}` : '');
});
