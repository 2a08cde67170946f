/**
 * Runs a scenario under a strategy until a failure is found, the run budget
 * is spent, or (DFS) the bounded schedule space is exhausted.
 */
import type { SyncEnv } from '../sync/env.js';
import { LockValidator } from '../sync/validator.js';
import { decodeReplay, encodeSchedule, scheduleTag } from './replay.js';
import type { Scenario, ScenarioHooks, ScenarioRun } from './scenario.js';
import { InvariantViolation, Scheduler, type Chooser, type FailureKind } from './scheduler.js';
import { DfsStrategy, PctStrategy, RandomStrategy, ReplayStrategy, type Strategy } from './strategy.js';

export type StrategyName = 'random' | 'pct' | 'dfs';
export const STRATEGIES: readonly StrategyName[] = ['random', 'pct', 'dfs'];

export interface ExploreOptions {
  readonly strategy: StrategyName;
  /** PCT depth (default 3). */
  readonly depth?: number;
  /** Run budget (default 1000). */
  readonly runs?: number;
  readonly seed?: number;
  /** DFS preemption bound (default 2). */
  readonly preemptions?: number;
  /** Replay exactly this schedule (one run); strategy options are ignored. */
  readonly replay?: string;
  /** Lock-order validation (default on). Off, lock-order bugs surface only as real deadlocks. */
  readonly lockdep?: boolean;
  readonly maxSteps?: number;
}

export interface RunFailure {
  readonly kind: FailureKind;
  readonly message: string;
  readonly replay: string;
  /** Index of the failing run. */
  readonly run: number;
  readonly steps: number;
  readonly tasks: readonly string[];
  readonly trace: readonly string[];
  readonly events: readonly string[];
}

export interface ExploreResult {
  readonly scenario: string;
  readonly variant: string;
  readonly strategy: string;
  readonly runs: number;
  readonly totalSteps: number;
  /** DFS only: every schedule within the bound was tried. */
  readonly exhausted: boolean;
  readonly failure: RunFailure | null;
  readonly elapsedMs: number;
}

export class ExploreUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExploreUsageError';
  }
}

interface RunOutcome {
  readonly failure: RunFailure | null;
  readonly choices: readonly number[];
}

/** One run of a scenario under a chooser, with a fresh env and validator. */
export async function runOnce(scenario: Scenario, variant: string, chooser: Chooser, runIndex: number, opts: { lockdep?: boolean; maxSteps?: number } = {}): Promise<RunOutcome> {
  const sched = new Scheduler(opts.maxSteps ?? scenario.maxSteps ?? 10_000);
  const validator = new LockValidator(opts.lockdep !== false);
  validator.onReport = (r) => sched.fail('lockdep', r.text);
  let ids = 0;
  const env: SyncEnv = {
    tasks: sched,
    validator,
    points: sched.points,
    hazards: {
      report: (h) => {
        if (h.kind === 'lockdep') return; // already failed through onReport
        sched.fail(h.kind, h.message);
      },
    },
    debug: true,
    nextId: () => ++ids,
  };
  const run: ScenarioRun = {
    variant,
    env,
    sched: {
      spawn: (name, kind, fn) => void sched.spawn(name, kind, fn),
      yield: (label) => sched.yield(label),
      note: (kind, label) => sched.note(`${kind} ${label}`),
    },
    check(cond: unknown, message: string): void {
      if (!cond) throw new InvariantViolation(message);
    },
  };
  let hooks: ScenarioHooks = {};
  try {
    hooks = scenario.setup(run) ?? {};
  } catch (e) {
    sched.fail('exception', `scenario setup: ${e instanceof Error ? e.message : String(e)}`);
  }
  const inv = hooks.invariant;
  await sched.run(chooser, inv ? () => inv.call(hooks) : () => {});
  if (!sched.failure && hooks.finish) {
    try {
      hooks.finish();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      sched.fail(e instanceof InvariantViolation || (e instanceof Error && e.name === 'AssertionError') ? 'invariant' : 'exception', `at the end: ${msg}`);
    }
  }
  try {
    hooks.dispose?.();
  } catch (e) {
    sched.fail('exception', `scenario dispose: ${e instanceof Error ? e.message : String(e)}`);
  }
  const f = sched.failure;
  return {
    choices: sched.choices,
    failure: f
      ? {
          kind: f.kind,
          message: f.message,
          replay: encodeSchedule(sched.choices, scheduleTag(scenario.name, variant)),
          run: runIndex,
          steps: sched.steps,
          tasks: sched.describeTasks(),
          trace: sched.describeTrace(),
          events: sched.describeEvents(),
        }
      : null,
  };
}

function makeStrategy(scenario: Scenario, variant: string, opts: ExploreOptions): Strategy {
  if (opts.replay !== undefined) {
    const d = decodeReplay(opts.replay);
    if (d.tag !== null && d.tag !== scheduleTag(scenario.name, variant)) {
      throw new ExploreUsageError(`replay string was recorded on another scenario or variant (tag ${d.tag}, ${scenario.name} ${variant} is ${scheduleTag(scenario.name, variant)})`);
    }
    return new ReplayStrategy(d.choices);
  }
  const seed = opts.seed ?? 1;
  switch (opts.strategy) {
    case 'random':
      return new RandomStrategy(seed);
    case 'pct':
      return new PctStrategy(seed, opts.depth ?? 3, scenario.stepsHint);
    case 'dfs':
      return new DfsStrategy(opts.preemptions ?? 2);
    default:
      throw new ExploreUsageError(`unknown strategy '${String(opts.strategy)}' (expected ${STRATEGIES.join(', ')})`);
  }
}

export async function explore(scenario: Scenario, variant: string, opts: ExploreOptions): Promise<ExploreResult> {
  if (!scenario.variants.includes(variant)) throw new ExploreUsageError(`scenario ${scenario.name} has no variant '${variant}' (expected ${scenario.variants.join(', ')})`);
  if (opts.depth !== undefined && (!Number.isInteger(opts.depth) || opts.depth < 1)) throw new ExploreUsageError('--depth must be a positive integer');
  if (opts.runs !== undefined && (!Number.isInteger(opts.runs) || opts.runs < 1)) throw new ExploreUsageError('--runs must be a positive integer');
  if (opts.preemptions !== undefined && (!Number.isInteger(opts.preemptions) || opts.preemptions < 0)) throw new ExploreUsageError('--preemptions must be a non-negative integer');
  const strategy = makeStrategy(scenario, variant, opts);
  const runs = opts.replay !== undefined ? 1 : (opts.runs ?? 1000);
  const t0 = performance.now();
  let done = 0;
  let totalSteps = 0;
  let exhausted = false;
  let failure: RunFailure | null = null;
  for (let i = 0; i < runs; i++) {
    const chooser = strategy.begin(i);
    if (!chooser) {
      exhausted = true;
      break;
    }
    const out = await runOnce(scenario, variant, chooser, i, opts);
    done++;
    totalSteps += out.choices.length;
    strategy.end(out.choices);
    if (out.failure) {
      failure = out.failure;
      break;
    }
  }
  if (!failure && strategy instanceof DfsStrategy && !exhausted && strategy.begin(runs) === null) exhausted = true;
  return {
    scenario: scenario.name,
    variant,
    strategy: opts.replay !== undefined ? 'replay' : strategy.name,
    runs: done,
    totalSteps,
    exhausted,
    failure,
    elapsedMs: performance.now() - t0,
  };
}

/** The human report printed by `tsvmm explore`. */
export function formatResult(r: ExploreResult): string {
  const head = `${r.scenario} (${r.variant}) with ${r.strategy}`;
  if (!r.failure) {
    const tail = r.exhausted ? ', every schedule within the bound explored' : '';
    return `ok: ${head}: no failure in ${r.runs} schedule(s), ${r.totalSteps} steps${tail} (${r.elapsedMs.toFixed(0)} ms)`;
  }
  const f = r.failure;
  const lines = [`FAIL: ${head}: ${f.kind} in run ${f.run} after ${f.steps} steps`, ...f.message.split('\n'), 'tasks:', ...f.tasks];
  if (f.events.length) lines.push('events:', ...f.events);
  lines.push('schedule (last steps):', ...f.trace, `replay: ${f.replay}`);
  return lines.join('\n');
}
