/**
 * Benchmark plumbing. Each bench/*.bench.ts exports `group` and `run(report)`;
 * `report` prints one JSON object per line: {name, value, unit[, baseline, ratio]}.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { START_V8_FLAGS, V8_FLAGS } from '../bin/v8-flags.cjs';

const TASKSET = '/usr/bin/taskset';

/**
 * `cmd args` pinned to the host's last logical CPU (util-linux's taskset), for figures that are
 * a process's CPU time: on the 2-vCPU machine the figures in docs/cpu.md come from, an unpinned
 * process ran the same CPU-bound loop in either ~270 or ~430 ms (8 runs: 271-435 ms), pinned in
 * 267-300 ms, so an unpinned comparison of two engines swung with where each process landed.
 * Threads of a pinned process share the one CPU, and their CPU time still adds up. Figures in
 * wall-clock time (the Linux boots, SMP) stay unpinned; so does everything where taskset is
 * missing.
 */
export function pinned(cmd: string, args: readonly string[]): [string, string[]] {
  if (!existsSync(TASKSET)) return [cmd, [...args]];
  return [TASKSET, ['-c', String(availableParallelism() - 1), cmd, ...args]];
}

/** Node's arguments that run bin/tsvmm as its first line does (its V8 flags, bin/v8-flags.cjs), for `process.execPath`. */
export const TSVMM_NODE_ARGS: readonly string[] = [...START_V8_FLAGS, fileURLToPath(new URL('../bin/tsvmm', import.meta.url))];

/**
 * Node options for a benchmark's child process running TypeScript (bench/cpu-child.ts): the
 * sources through tsx, with src/ resolved to the compiled dist/ when that build is current
 * (bench/dist.mjs), as for the benchmark run itself and for bin/tsvmm, under the V8 flags
 * bin/tsvmm sets (bin/v8-flags.cjs).
 */
export const CHILD_NODE_ARGS: readonly string[] = [...START_V8_FLAGS, ...V8_FLAGS, '--import', 'tsx', '--import', fileURLToPath(new URL('./dist.mjs', import.meta.url))];

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
