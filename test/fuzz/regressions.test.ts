/**
 * Failures the fuzz targets found, replayed by seed and path (so the exact
 * input is regenerated), each with what it found. A target's generator may
 * change; the counterexample is kept too where it is small.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { TARGETS } from './targets/index.js';

interface Regression {
  target: string;
  seed: number;
  path: string;
  found: string;
}

const REGRESSIONS: Regression[] = [
  {
    target: 'loaders',
    seed: -1857632196,
    path: '7529:1:1:3:3:3:4:19:24:29:34:16:26:4:24:23:21:21:22:21',
    found: 'a DTB property name that is not UTF-8 came back as U+FFFD in the blob handed to the guest (now an FdtError)',
  },
];

for (const r of REGRESSIONS) {
  test(`fuzz regression ${r.target} seed ${r.seed}: ${r.found}`, async () => {
    const t = TARGETS.find((x) => x.name === r.target)!;
    await fc.assert(
      fc.asyncProperty(t.arbitrary, async (input) => {
        await t.check(input);
      }),
      { seed: r.seed, path: r.path, endOnFailure: true },
    );
  });
}
