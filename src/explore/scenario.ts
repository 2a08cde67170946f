/**
 * What a scenario is. A scenario builds real components in `setup` (fresh for
 * every run), spawns tasks that drive them, and says what must hold. The
 * explorer runs it under many schedules.
 */
import type { TaskKind } from '../sync/context.js';
import type { SyncEnv } from '../sync/env.js';
import type { SyncPointKind } from '../sync/sync-points.js';

export interface ScenarioScheduler {
  /** Start a simulated task (vCPU, I/O thread, bottom half, timer, interrupt delivery). */
  spawn(name: string, kind: TaskKind, fn: () => Promise<void>): void;
  /** A sync point in scenario or device code: the explorer may switch tasks here. */
  yield(label: string): Promise<void> | undefined;
  /** Announce a sync point in synchronous code (recorded for the report). */
  note(kind: SyncPointKind, label: string): void;
}

export interface ScenarioRun {
  readonly variant: string;
  /** Locks, lifetimes and components built with this env are explorer-aware. */
  readonly env: SyncEnv;
  readonly sched: ScenarioScheduler;
  /** Fail the run with an invariant violation unless cond holds. */
  check(cond: unknown, message: string): void;
}

export interface ScenarioHooks {
  /** Checked after every step. Throw (or use run.check) to report a violation. */
  invariant?(): void;
  /** Checked once when every task has finished. */
  finish?(): void;
  /**
   * Called after every run, failed or not: release what the run registered in
   * realm-wide state (e.g. destroy AddressSpaces, which the memory core keeps
   * in a per-realm list).
   */
  dispose?(): void;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Usually ['naive', 'shipped']. */
  readonly variants: readonly string[];
  /** Which variants have a known bug (self-tests and `--list`). */
  readonly buggy: readonly string[];
  /**
   * The production modules (paths under src/) whose code the scenario runs,
   * for `tsvmm explore --list`. Absent for scenarios that exercise only the
   * explorer and src/sync (the classic ones).
   */
  readonly drives?: readonly string[];
  /** Step budget per run before a livelock is reported (default 10,000). */
  readonly maxSteps?: number;
  /** Typical run length, PCT's initial estimate. */
  readonly stepsHint?: number;
  setup(run: ScenarioRun): ScenarioHooks | void;
}
