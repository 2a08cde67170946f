/**
 * cpu.mips: guest instructions per CPU-second (millions) on a CPU-bound
 * program (bench/cpu-programs.ts MIX: ALU, loads/stores, branches,
 * multiply/divide, calls; ~55 % compressed), each figure from a fresh
 * process (bench/cpu-child.ts) so that V8's tiering is part of what is
 * measured (after a 20 M-instruction warm-up, at least 0.3 s of CPU):
 * value = the minimum over 5 processes, `median` beside it. Every process
 * of this file is pinned to one CPU (harness.ts: pinned).
 * cpu.mips_interp: the same with `translate: false` (the interpreter alone).
 *
 * cpu.cold_footprint: a cold process running 2,000 distinct basic blocks
 * 1,000 times each (12 M instructions, CPU-time MIPS from guest start),
 * translated, against the interpreter as the baseline measured in the same run,
 * each the median of 5 processes (goal: ratio >= 1).
 *
 * cpu.cold_footprint_regions: the same process with the region tier in front of the block
 * translator (-accel tcg,regions=on: jit/region-gen.ts), against the same interpreter runs
 * (alternated with both): what the tier built for this figure does, off by default until it
 * also pays on Linux (docs/cpu.md, *Regions*).
 *
 * cpu.cold_footprint_blocks: the same process without threaded code (-accel tcg,threaded=off:
 * the block translator alone, the default engine before jit/thread-code.ts), against the same
 * interpreter runs (alternated with them): what threaded code does for this figure
 * (docs/cpu.md, *Threaded code*).
 *
 * cpu.translated_footprint: the cold-footprint program's 2,000 blocks all translated (a
 * threshold of 16), timed over 2,000 further rounds (24 M instructions), against the
 * interpreter on the same rounds, the median of 3 alternated processes each: what translated
 * code of that footprint does once it exists (cpu.cold_footprint's process never translates;
 * docs/cpu-performance.md, *Translated code at the cold-footprint program's scale*, says why
 * this one is below 1). No goal of its own; a translator that passes cpu.cold_footprint by
 * translating will need it above 1.
 *
 * cpu.cold_footprint_cli: the same program as the firmware of `tsvmm run`
 * (bench/cpu-cli-child.mjs: bin/tsvmm's V8 flags, the CLI's bundle with its
 * code cache, the virt machine), CPU from the CLI's main() to its return,
 * translated against `-accel tcg,jit=off`, medians of 5 alternated processes.
 * The figure above runs the engines from the compiled modules, which have no
 * code cache: its translating process also compiles the translator's
 * JavaScript, which a user's `tsvmm run` takes from the cache. This one
 * includes the virt machine's construction (the same for both engines).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../test/cpu/guest.js';
import { footprint } from './cpu-programs.js';
import type { Report } from './harness.js';
import { CHILD_NODE_ARGS, median, pinned, round } from './harness.js';
import { START_V8_FLAGS } from '../bin/v8-flags.cjs';

export const group = 'cpu';

const CHILD = fileURLToPath(new URL('./cpu-child.ts', import.meta.url));
const CLI_CHILD = fileURLToPath(new URL('./cpu-cli-child.mjs', import.meta.url));
/** The cold-footprint program of cpu.cold_footprint_cli: footprint(FP_BLOCKS, FP_ROUNDS). */
const FP_BLOCKS = 2000;
const FP_ROUNDS = 1000;
/** Its instructions: each round's six per block and the loop's two (its setup and power-off, eight more, left out). */
const FOOTPRINT_INSNS = FP_ROUNDS * (FP_BLOCKS * 6 + 2);

/** CPU seconds of one cpu-cli-child run of `firmware`. */
function measureCli(firmware: string, jit: 'on' | 'off'): number {
  const out = execFileSync(...pinned(process.execPath, [...START_V8_FLAGS, CLI_CHILD, jit, firmware]), { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { cpuSeconds: number; code: number };
  if (r.code !== 0) throw new Error(`cpu-cli-child ${jit}: the guest did not power off (exit ${r.code})`);
  return r.cpuSeconds;
}

function measure(kind: 'mix' | 'footprint' | 'density', jit: 'on' | 'off' | 'regions' | 'blocks'): number {
  const out = execFileSync(...pinned(process.execPath, [...CHILD_NODE_ARGS, CHILD, kind, jit]), { encoding: 'utf8' });
  return (JSON.parse(out.trim().split('\n').pop()!) as { mips: number }).mips;
}

function stats(xs: number[]): { min: number; median: number } {
  return { min: Math.min(...xs), median: median(xs) };
}

/** `n` processes of `kind` per engine, alternated: [translated, interpreter] MIPS. */
function alternated(kind: 'mix' | 'footprint' | 'density', n: number): [number[], number[]] {
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < n; i++) {
    on.push(measure(kind, 'on'));
    off.push(measure(kind, 'off'));
  }
  return [on, off];
}

export async function run(report: Report): Promise<void> {
  const [jit, interp] = alternated('mix', 5);
  const j = stats(jit);
  const n = stats(interp);
  report({ name: 'cpu.mips', value: round(j.min, 1), unit: 'MIPS', median: round(j.median, 1), baseline: round(n.min, 1), ratio: round(j.min / n.min, 2) });
  report({ name: 'cpu.mips_interp', value: round(n.min, 1), unit: 'MIPS', median: round(n.median, 1) });
  // One process each swung the ratio by +-20 % on this machine (a ~0.3 s run, V8's compile threads
  // on the second core): the median of 5 alternated processes each.
  // The default engine, the interpreter, the region tier and the block translator alone, alternated.
  const cold: number[] = [];
  const coldInterp: number[] = [];
  const coldRegions: number[] = [];
  const coldBlocks: number[] = [];
  for (let i = 0; i < 5; i++) {
    cold.push(measure('footprint', 'on'));
    coldInterp.push(measure('footprint', 'off'));
    coldRegions.push(measure('footprint', 'regions'));
    coldBlocks.push(measure('footprint', 'blocks'));
  }
  const c = median(cold);
  const ci = median(coldInterp);
  const cr = median(coldRegions);
  const cb = median(coldBlocks);
  report({ name: 'cpu.cold_footprint', value: round(c, 1), unit: 'MIPS', baseline: round(ci, 1), ratio: round(c / ci, 2) });
  report({ name: 'cpu.cold_footprint_regions', value: round(cr, 1), unit: 'MIPS', baseline: round(ci, 1), ratio: round(cr / ci, 2) });
  report({ name: 'cpu.cold_footprint_blocks', value: round(cb, 1), unit: 'MIPS', baseline: round(ci, 1), ratio: round(cb / ci, 2) });

  const [dense, denseInterp] = alternated('density', 3);
  const d = median(dense);
  const di = median(denseInterp);
  report({ name: 'cpu.translated_footprint', value: round(d, 1), unit: 'MIPS', baseline: round(di, 1), ratio: round(d / di, 2) });

  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-'));
  try {
    const firmware = join(dir, 'footprint.bin');
    writeFileSync(firmware, assemble(footprint(FP_BLOCKS, FP_ROUNDS, 'poweroff')));
    const on: number[] = [];
    const off: number[] = [];
    for (let i = 0; i < 5; i++) {
      on.push(measureCli(firmware, 'on'));
      off.push(measureCli(firmware, 'off'));
    }
    const mOn = FOOTPRINT_INSNS / median(on) / 1e6;
    const mOff = FOOTPRINT_INSNS / median(off) / 1e6;
    report({ name: 'cpu.cold_footprint_cli', value: round(mOn, 1), unit: 'MIPS', baseline: round(mOff, 1), ratio: round(mOn / mOff, 2) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
