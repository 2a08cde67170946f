/**
 * When a block is translated: how many times the interpreter runs its entry first, on which
 * hosts, and which of its page's other blocks are compiled along with it. jit/engine.ts counts;
 * docs/cpu-performance.md has the rounds of measurements behind the numbers.
 */

/**
 * Executions (via the interpreter) of a block entry before it is translated.
 * A translated block costs ~1-4 ms of host CPU all told (module compile and
 * instantiation on this thread, V8's optimising tier-up in the background).
 * Measured on Debian's Linux boot to a shell (2.2 G instructions): threshold
 * 4,096 translated 2,260 blocks and took 50-56 s, 1,024 translated 4,478 and
 * took 60 s, although it interpreted 110 M fewer instructions; a cold process
 * running 2,000 distinct blocks 1,000 times each (cpu.cold_footprint) never
 * pays for translation at 4,096. Blocks of the same page entered threshold /
 * WARM_SHARE times are compiled in the hot block's module (codegen.ts:
 * translateBlocks says why); 2,048 with that measured no better.
 */
export const HOT_THRESHOLD = 4096;

/**
 * The threshold for harts whose realms leave the host a core to spare: a
 * translation's expensive part, V8's optimising tier-up, runs on V8's
 * background threads, so with an idle core it costs a translating hart little
 * and translating earlier pays (JavaScript's tier-up is on the hart's own thread since
 * bin/tsvmm's --no-concurrent-recompilation; wasm's is not: 2,048 against 4,096 measured
 * the same with it, Linux 6.73 / 6.88 s, U-Boot 224.9 / 223.7 ms). Debian's Linux boot to a shell, alternated
 * runs: `-smp 1` on 2 cores, 4,096 -> 2,048: 8.07 -> 7.61 s wall (1,024:
 * 7.65, 512: 7.83), CPU unchanged (9.55 / 9.53 s); `-smp 2` on 2 cores, where
 * both are busy: 8.25 -> 8.54 s (1,024: 8.89), CPU 12.98 -> 13.77 s.
 */
export const SPARE_CORE_THRESHOLD = 2048;

/** The translation threshold for harts that keep `busyThreads` host threads busy on a host with `cpus` logical processors. */
export function hotThreshold(cpus: number, busyThreads: number): number {
  return cpus > busyThreads ? SPARE_CORE_THRESHOLD : HOT_THRESHOLD;
}
/** A block entered threshold / WARM_SHARE times is compiled along with a hot block of its page. */
export const WARM_SHARE = 4;

/**
 * Entries of a block before its page's code is written as a region (region-gen.ts): the first
 * tier, cheap to write and several times the interpreter's speed, in front of the block
 * translator at the hot threshold (docs/cpu-performance.md, *A region tier*). 0: no regions.
 */
export const REGION_THRESHOLD = 16;
/** Regions written for one page (new entries found later) before its further entries wait for the hot threshold. */
export const MAX_REGION_BUILDS = 8;

/** Entries before a block's page gets threaded code (jit/thread-code.ts; Hart's threadThreshold). */
export const THREAD_THRESHOLD = 16;
