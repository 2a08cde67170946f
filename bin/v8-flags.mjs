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
import { setFlagsFromString } from 'node:v8';

export const V8_FLAGS = ['--interrupt-budget=600000'];

export function applyV8Flags() {
  for (const f of V8_FLAGS) setFlagsFromString(f);
}
