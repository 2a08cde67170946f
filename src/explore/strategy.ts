/**
 * Scheduling strategies. A Strategy hands out one Chooser per run and learns
 * from the finished run (PCT its length, DFS its branching points).
 */
import { Rng, runSeed } from './rng.js';
import type { Chooser, ExploreTask } from './scheduler.js';

export interface Strategy {
  readonly name: string;
  /** The chooser for run `run`, or null when the strategy has nothing left (DFS exhausted). */
  begin(run: number): Chooser | null;
  /** Called after each run with its choices. */
  end(choices: readonly number[]): void;
}

/** The choice when a strategy has no opinion: keep running the previous task, else the lowest id. */
function defaultChoice(enabled: readonly ExploreTask[], prev: ExploreTask | null): ExploreTask {
  if (prev && enabled.includes(prev)) return prev;
  return enabled[0]!;
}

export class RandomStrategy implements Strategy {
  readonly name = 'random';
  constructor(private readonly seed: number) {}

  begin(run: number): Chooser {
    const rng = new Rng(runSeed(this.seed, run));
    return { choose: (_s, enabled) => enabled[rng.below(enabled.length)]! };
  }

  end(): void {}
}

/**
 * PCT (probabilistic concurrency testing): random distinct initial priorities
 * (all >= depth), d-1 change points chosen uniformly over the expected run
 * length; at change point i the task about to run drops to priority i. The
 * highest-priority enabled task always runs.
 */
export class PctStrategy implements Strategy {
  readonly name = 'pct';
  private expectedSteps: number;

  constructor(
    private readonly seed: number,
    private readonly depth: number,
    stepsHint = 32,
  ) {
    this.expectedSteps = Math.max(2, stepsHint);
  }

  begin(run: number): Chooser {
    const rng = new Rng(runSeed(this.seed, run));
    const d = this.depth;
    const change = new Map<number, number>();
    for (let i = 1; i < d; i++) {
      let k: number;
      let guard = 0;
      do k = 1 + rng.below(this.expectedSteps);
      while (change.has(k) && ++guard < 64);
      change.set(k, i);
    }
    const prio: number[] = [];
    return {
      choose: (step, enabled) => {
        for (const t of enabled) if (prio[t.id] === undefined) prio[t.id] = d + rng.next() / 0x1_0000_0000;
        let best = enabled[0]!;
        for (const t of enabled) if (prio[t.id]! > prio[best.id]!) best = t;
        const c = change.get(step);
        if (c !== undefined) {
          prio[best.id] = c;
          for (const t of enabled) if (prio[t.id]! > prio[best.id]!) best = t;
        }
        return best;
      },
    };
  }

  end(choices: readonly number[]): void {
    if (choices.length > this.expectedSteps) this.expectedSteps = choices.length;
  }
}

interface DfsNode {
  readonly enabled: readonly number[];
  readonly prev: number;
  readonly prevEnabled: boolean;
  readonly preemptionsBefore: number;
  readonly tried: number[];
  chosen: number;
}

/**
 * Exhaustive depth-first search over schedules with a preemption bound:
 * switching away from a task that could have continued costs one preemption;
 * switching after a task blocks or finishes is free. Stateless: each run
 * replays a prefix, then continues with the default choice and records its
 * branching points; the next run backtracks to the deepest untried choice.
 */
export class DfsStrategy implements Strategy {
  readonly name = 'dfs';
  private readonly stack: DfsNode[] = [];
  private exhausted = false;
  private started = false;

  constructor(private readonly bound: number) {}

  begin(_run?: number): Chooser | null {
    if (this.exhausted) return null;
    if (this.started && !this.backtrack()) {
      this.exhausted = true;
      return null;
    }
    this.started = true;
    let preemptions = 0;
    return {
      choose: (step, enabled, prev) => {
        let node = this.stack[step];
        if (!node) {
          const ids = enabled.map((t) => t.id);
          const prevEnabled = prev !== null && enabled.includes(prev);
          const chosen = defaultChoice(enabled, prev).id;
          node = { enabled: ids, prev: prev?.id ?? -1, prevEnabled, preemptionsBefore: preemptions, tried: [chosen], chosen };
          this.stack.push(node);
        }
        const t = enabled.find((x) => x.id === node.chosen) ?? null;
        if (t && node.prevEnabled && t.id !== node.prev) preemptions++;
        return t;
      },
    };
  }

  end(choices: readonly number[]): void {
    // A run can end (failure, completion) before using the whole recorded stack.
    if (this.stack.length > choices.length) this.stack.length = choices.length;
  }

  get isExhausted(): boolean {
    return this.exhausted;
  }

  private backtrack(): boolean {
    while (this.stack.length > 0) {
      const n = this.stack[this.stack.length - 1]!;
      for (const id of n.enabled) {
        if (n.tried.includes(id)) continue;
        const cost = n.prevEnabled && id !== n.prev ? 1 : 0;
        if (n.preemptionsBefore + cost > this.bound) continue;
        n.tried.push(id);
        n.chosen = id;
        return true;
      }
      this.stack.pop();
    }
    return false;
  }
}

/** Follows a recorded schedule, then continues with the default choice. */
export class ReplayStrategy implements Strategy {
  readonly name = 'replay';
  private used = false;
  constructor(private readonly choices: readonly number[]) {}

  begin(): Chooser | null {
    if (this.used) return null;
    this.used = true;
    return {
      choose: (step, enabled, prev) => {
        if (step < this.choices.length) return enabled.find((t) => t.id === this.choices[step]) ?? null;
        return defaultChoice(enabled, prev);
      },
    };
  }

  end(): void {}
}
