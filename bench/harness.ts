/**
 * Benchmark plumbing. Each bench/*.bench.ts exports `group` and `run(report)`;
 * `report` prints one JSON object per line: {name, value, unit[, baseline, ratio]}.
 */
import { fileURLToPath } from 'node:url';
import { V8_FLAGS } from '../bin/v8-flags.cjs';

/**
 * Node options for a benchmark's child process running TypeScript (bench/cpu-child.ts): the
 * sources through tsx, with src/ resolved to the compiled dist/ when that build is current
 * (bench/dist.mjs), as for the benchmark run itself and for bin/tsvmm, under the V8 flags
 * bin/tsvmm sets (bin/v8-flags.cjs).
 */
export const CHILD_NODE_ARGS: readonly string[] = [...V8_FLAGS, '--import', 'tsx', '--import', fileURLToPath(new URL('./dist.mjs', import.meta.url))];

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  /** Extra figures of the same measurement (e.g. the median beside a minimum). */
  median?: number;
  /** The single measurements a median was taken over, and the baseline's. */
  runs?: number[];
  baselineRuns?: number[];
}

export type Report = (r: BenchResult) => void;

export interface BenchModule {
  group: string;
  run(report: Report): Promise<void> | void;
}

/** The median of `xs` (the upper middle of an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Median of the per-call time (ns) of `fn` over `rounds` rounds of `iters` calls. */
export function timeNs(fn: (i: number) => void, iters: number, rounds = 7): number {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn(i);
    const t1 = process.hrtime.bigint();
    samples.push(Number(t1 - t0) / iters);
  }
  return median(samples);
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
