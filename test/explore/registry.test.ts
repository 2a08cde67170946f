// Every registered scenario, as issue 9's acceptance states it, in a bounded
// form: each known-buggy variant is caught by PCT depth 3 within 2000 runs
// and its replay string reproduces the failure; every other variant survives
// 500 PCT depth-3 schedules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore } from '../../src/explore/explorer.js';
import { listScenarios } from '../../src/explore/scenarios/index.js';

for (const s of listScenarios()) {
  for (const variant of s.variants) {
    if (s.buggy.includes(variant)) {
      test(`${s.name} (${variant}): caught by PCT depth 3, replay reproduces`, async () => {
        const r = await explore(s, variant, { strategy: 'pct', depth: 3, runs: 2000, seed: 1 });
        assert.ok(r.failure, `${s.name} ${variant} not caught in ${r.runs} runs`);
        const again = await explore(s, variant, { strategy: 'pct', replay: r.failure.replay });
        assert.equal(again.failure?.kind, r.failure.kind);
        assert.equal(again.failure.message, r.failure.message);
      });
    } else {
      test(`${s.name} (${variant}): survives 500 PCT depth-3 schedules`, async () => {
        const r = await explore(s, variant, { strategy: 'pct', depth: 3, runs: 500, seed: 1 });
        assert.equal(r.failure, null, r.failure ? `${r.failure.message}\nreplay: ${r.failure.replay}` : '');
      });
    }
  }
}
