/**
 * Test support: a deterministic xorshift32 generator, so a random sample is
 * the same on every run and a failure names a seed that replays it.
 */

/** Raw 32-bit outputs (a zero seed is taken as 1: xorshift never leaves 0). */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Fractions in [0, 1). */
export function rng(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 0x100000000;
}
