// V8 flags tsvmm runs with, set before the CLI's code is loaded (bin/tsvmm; the build's
// code-cache training run and the benchmarks' child processes use the same list, since V8
// accepts a code cache only under the flags it was made with).
//
// --interrupt-budget: how much bytecode a function runs between V8's checks whether to
// optimise it (default 66 KiB). An emulator is a few very hot loops (the interpreter's
// inner(), the translator's dispatcher) that V8 otherwise optimises before their type
// feedback has settled, then deoptimises and optimises again, on the second core, during
// the first second of every boot. 600,000, measured with the code cache in use (8 alternated
// runs, medians): U-Boot to its prompt 0.46 -> 0.37 s of CPU; Linux -smp 1 to a shell
// 10.07 -> 9.13 s, -smp 2 unchanged (docs/cpu.md).
//
// --wasm-tiering-budget: how much a wasm function runs (roughly bytes of code executed) before
// V8 recompiles it with TurboFan (default 1,800,000). Translated blocks that run only a few
// thousand times more after their translation repaid their Liftoff compile but not a TurboFan
// one. 18,000,000, alternated runs against the default: U-Boot to its prompt 0.39 -> 0.32 s of
// CPU (6 of 6 pairs); Linux -smp 1 to a shell CPU -4 to -9 %, wall within noise (with a core
// to spare the tier-up did not delay the hart); -smp 2 CPU 13.15 -> 12.55 s, wall 8.43 -> 8.06 s.
// 54,000,000 and 180,000,000 left hot code in Liftoff too long (-smp 1 wall 7.72 and 7.98 s
// against 7.61 s). docs/cpu.md has the rounds.
//
// START_V8_FLAGS take effect only on node's command line (V8 sets up what they change when it
// starts), so bin/tsvmm's first line passes them (`#!/usr/bin/env -S node ...`: keep the two
// in step; test/cli/main.test.ts checks), and so do the benchmarks' child processes.
//
// --no-concurrent-recompilation: V8 optimises JavaScript with TurboFan on the thread that runs
// it instead of on a background thread. The CPU a boot spends is what tsvmm is measured by, and
// a background job costs more of it than the same compile in place (U-Boot to its prompt: other
// threads 42.8 -> 22.8 ms, main thread 191.8 -> 203.0 ms, total 234.9 -> 226.2 ms pinned to one
// CPU, 236.5 -> 225.9 ms unpinned, 8 alternated runs each); Linux to a shell: -smp 1 CPU 7.94 ->
// 7.71 s, wall 6.86 / 6.94 s, -smp 2 CPU 10.51 -> 10.05 s, wall 7.01 -> 6.87 s (4 and 3 pairs).
// The event loop stalls for each compile (a few ms), as for a garbage collection.
//
// When V8_FLAGS are set: as a run starts (bin/tsvmm hands applyV8Flags to the CLI as its
// runStarting hook: before the machine is built, or once its hart realms have started). V8
// checks every code cache against a hash of its flags' values, node's cache of its own modules
// included: with the two budgets set first, each node module the CLI loaded afterwards compiled
// from source (`net`, `worker_threads`, `stream`, `readline`, `child_process`: 1.9 -> 7.3 ms),
// and so did each hart realm's start (a worker thread ~45 ms of CPU against ~21: `-smp 2`'s
// start and power off 223.5 -> 169.9 ms); on the command line they cost `node -e 0` ~1 ms. The
// build's training run therefore loads the CLI under V8's defaults too, and puts them back
// (resetV8Flags) before it saves the CLI's code cache, which then carries the defaults' hash.
const V8_FLAGS = ['--interrupt-budget=600000', '--wasm-tiering-budget=18000000'];
const START_V8_FLAGS = ['--no-concurrent-recompilation'];
/** V8's own values of V8_FLAGS (Node 20's V8; test/cli/main.test.ts checks them against `node --v8-options`). */
const V8_DEFAULTS = ['--interrupt-budget=67584', '--wasm-tiering-budget=1800000'];

function setV8Flags(flags) {
  const { setFlagsFromString } = require('node:v8');
  for (const f of flags) setFlagsFromString(f);
}

function applyV8Flags() {
  setV8Flags(V8_FLAGS);
}

function resetV8Flags() {
  setV8Flags(V8_DEFAULTS);
}

module.exports = { V8_FLAGS, START_V8_FLAGS, V8_DEFAULTS, applyV8Flags, resetV8Flags };
