/**
 * A fuzz target: a fast-check arbitrary that builds structured, well-formed-
 * then-mutated inputs for one parser fed by a guest or a host user, and a
 * check that runs the parser and asserts its invariants (not only "did not
 * throw"): no guest-memory write outside what the guest gave, bounded work,
 * nothing retained after a reset. `npm run fuzz -- NAME` runs one
 * (scripts/fuzz.mjs); test/fuzz/fuzz.test.ts runs each briefly in CI.
 */
import type { Arbitrary } from 'fast-check';

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  readonly summary: string;
  readonly arbitrary: Arbitrary<T>;
  /** Throws when an invariant does not hold. */
  check(input: T): void | Promise<void>;
  /** Runs per CI pass (npm test); default 25. */
  readonly ciRuns?: number;
}

export function target<T>(t: FuzzTarget<T>): FuzzTarget<unknown> {
  return t as unknown as FuzzTarget<unknown>;
}

/** Byte ranges [start, end) of guest memory a parser may write. */
export type Allowed = readonly (readonly [number, number])[];

/**
 * Watches a RAM region for writes: snapshot() then changedOutside(allowed)
 * lists the first bytes written outside the allowed guest addresses.
 */
export class RamWatch {
  private copy: Uint8Array;
  constructor(
    private readonly ram: Uint8Array,
    private readonly base: number,
  ) {
    this.copy = ram.slice();
  }

  snapshot(): void {
    this.copy.set(this.ram);
  }

  changedOutside(allowed: Allowed, limit = 4): number[] {
    const out: number[] = [];
    const r = this.ram;
    const c = this.copy;
    for (let i = 0; i < r.length; i++) {
      if (r[i] === c[i]) continue;
      const a = this.base + i;
      if (allowed.some(([s, e]) => a >= s && a < e)) continue;
      out.push(a);
      if (out.length >= limit) break;
    }
    return out;
  }
}

export function hex(a: readonly number[]): string {
  return a.map((x) => '0x' + x.toString(16)).join(', ');
}
