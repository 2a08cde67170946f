/**
 * Every fuzz target, briefly, with a fixed seed (so CI is reproducible;
 * `npm run fuzz -- TARGET --seconds S` explores with fresh seeds).
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { TARGETS } from './targets/index.js';

for (const t of TARGETS) {
  test(`fuzz ${t.name}: ${t.summary}`, async () => {
    await fc.assert(
      fc.asyncProperty(t.arbitrary, async (input) => {
        await t.check(input);
      }),
      { seed: 22, numRuns: t.ciRuns ?? 25 },
    );
  });
}
