/** A small seeded PRNG (splitmix32-style); explorer runs must not touch Math.random. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  next(): number {
    let z = (this.s = (this.s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }
}

/** Mix a base seed and a run index into a per-run seed. */
export function runSeed(seed: number, run: number): number {
  const r = new Rng((seed ^ Math.imul(run + 1, 0x27d4eb2d)) >>> 0);
  r.next();
  return r.next();
}
