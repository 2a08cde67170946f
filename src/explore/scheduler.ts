/**
 * The deterministic scheduler of one explorer run. Simulated tasks are async
 * functions; exactly one runs at a time, from one sync point to the next
 * (`yield`, a lock operation, a blocking wait). At each point the scheduler
 * asks a Chooser which enabled task runs next, and records the choice, so the
 * sequence of choices replays the run exactly.
 *
 * Everything happens in microtasks. A task that awaits anything the scheduler
 * does not control (a timer, I/O) would stall the run: a setImmediate watchdog,
 * which can only fire once the microtask queue drains, reports it.
 */
import { TaskState, type TaskContext, type TaskKind } from '../sync/context.js';
import type { SyncPointKind, SyncPoints } from '../sync/sync-points.js';

export type TaskStatus = 'runnable' | 'blocked' | 'done';

export class ExploreTask extends TaskState {
  status: TaskStatus = 'runnable';
  /** Where the task is parked (its last sync point). */
  override label = 'start';
  waitReason = '';
  ready: (() => boolean) | null = null;
  resume: (() => void) | null = null;
}

export type FailureKind =
  | 'deadlock'
  | 'livelock'
  | 'invariant'
  | 'exception'
  | 'lockdep'
  | 'use-after-removal'
  | 'contention'
  | 'uncontrolled-await'
  | 'replay-diverged';

export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
  readonly step: number;
}

/** Picks the next task among the enabled ones; null means the replay diverged. */
export interface Chooser {
  choose(step: number, enabled: readonly ExploreTask[], prev: ExploreTask | null): ExploreTask | null;
}

/** Thrown by scenario checks; also any node:assert AssertionError counts as an invariant violation. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

function isAssertion(e: unknown): boolean {
  return e instanceof InvariantViolation || (e instanceof Error && e.name === 'AssertionError');
}

const TRACE_KEEP = 40;

export class Scheduler implements TaskContext {
  readonly cooperative = true;
  readonly tasks: ExploreTask[] = [];
  /** Task ids chosen at each step: the replay. */
  readonly choices: number[] = [];
  /** Where each chosen task was parked when chosen (parallel to choices). */
  readonly labels: string[] = [];
  private readonly events: string[] = [];
  private readonly setupTask = new ExploreTask(-1, 'setup', 'main');
  private running: ExploreTask | null = null;
  private parkResolve: (() => void) | null = null;
  private finished = false;
  failure: Failure | null = null;

  constructor(readonly maxSteps: number) {}

  get steps(): number {
    return this.choices.length;
  }

  /** Create a task; it starts parked at 'start' and runs when first chosen. */
  spawn(name: string, kind: TaskKind, fn: () => Promise<void>): ExploreTask {
    const t = new ExploreTask(this.tasks.length, name, kind);
    this.tasks.push(t);
    new Promise<void>((res) => {
      t.resume = res;
    })
      .then(fn)
      .then(
        () => {
          t.status = 'done';
          t.label = 'done';
          this.park();
        },
        (e: unknown) => {
          t.status = 'done';
          t.label = 'threw';
          const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          this.fail(isAssertion(e) ? 'invariant' : 'exception', `${t.name}: ${msg}`);
          this.park();
        },
      );
    return t;
  }

  current(): ExploreTask {
    return this.running ?? this.setupTask;
  }

  /** A sync point: the current task parks and the chooser picks who runs next. */
  yield(label: string): Promise<void> | undefined {
    const t = this.running;
    if (!t) return undefined;
    t.label = label;
    return new Promise<void>((res) => {
      t.resume = res;
      this.park();
    });
  }

  syncPoint(label: string): Promise<void> | undefined {
    return this.yield(label);
  }

  waitUntil(reason: string, ready: () => boolean): Promise<void> {
    const t = this.running;
    if (ready()) return Promise.resolve();
    if (!t) return Promise.reject(new Error(`scenario setup would block on ${reason}`));
    t.status = 'blocked';
    t.ready = ready;
    t.waitReason = reason;
    return new Promise<void>((res) => {
      t.resume = res;
      this.park();
    });
  }

  /** Record an event for the failure trace (sync points announced by synchronous code). */
  note(event: string): void {
    if (this.events.length >= TRACE_KEEP * 4) this.events.splice(0, TRACE_KEEP * 3);
    this.events.push(`#${this.steps} ${this.running?.name ?? 'setup'}: ${event}`);
  }

  /** The SyncPoints a run hands to instrumented components. */
  readonly points: SyncPoints = {
    at: (kind: SyncPointKind, label: string) => this.note(`${kind} ${label}`),
    yield: (kind: SyncPointKind, label: string) => this.yield(`${kind} ${label}`),
  };

  fail(kind: FailureKind, message: string): void {
    if (!this.failure) this.failure = { kind, message, step: this.steps };
  }

  private park(): void {
    const r = this.parkResolve;
    this.parkResolve = null;
    r?.();
  }

  private isEnabled(t: ExploreTask): boolean {
    return t.status === 'runnable' || (t.status === 'blocked' && t.ready!());
  }

  async run(chooser: Chooser, check: () => void): Promise<void> {
    const watchdog = setImmediate(() => {
      if (this.finished || !this.parkResolve) return;
      const t = this.running;
      this.fail('uncontrolled-await', `${t?.name ?? '?'} awaited something the scheduler does not control after '${t?.label ?? '?'}' (use sched.yield / explorer-aware locks only)`);
      this.park();
    });
    let prev: ExploreTask | null = null;
    const enabled: ExploreTask[] = [];
    try {
      for (;;) {
        if (this.failure) return;
        enabled.length = 0;
        for (const t of this.tasks) if (this.isEnabled(t)) enabled.push(t);
        if (enabled.length === 0) {
          if (this.tasks.some((t) => t.status !== 'done')) this.fail('deadlock', 'deadlock: every remaining task is blocked');
          return;
        }
        if (this.steps >= this.maxSteps) {
          this.fail('livelock', `livelock: step budget of ${this.maxSteps} exceeded`);
          return;
        }
        const t = chooser.choose(this.steps, enabled, prev);
        if (!t) {
          this.fail('replay-diverged', `replay diverged at step ${this.steps}: recorded task is not enabled (enabled: ${enabled.map((x) => x.id).join(',')})`);
          return;
        }
        this.choices.push(t.id);
        this.labels.push(t.label);
        t.status = 'runnable';
        t.ready = null;
        this.running = t;
        prev = t;
        const parked = new Promise<void>((r) => {
          this.parkResolve = r;
        });
        const res = t.resume!;
        t.resume = null;
        res();
        await parked;
        this.running = null;
        if (!this.failure) {
          try {
            check();
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            this.fail(isAssertion(e) ? 'invariant' : 'exception', `invariant after step ${this.steps}: ${msg}`);
          }
        }
      }
    } finally {
      this.finished = true;
      this.running = null;
      clearImmediate(watchdog);
    }
  }

  /** Each task's state, one line each. */
  describeTasks(): string[] {
    return this.tasks.map((t) => {
      const what =
        t.status === 'done' ? (t.label === 'threw' ? 'threw' : 'done') : t.status === 'blocked' ? `blocked on ${t.waitReason} (at ${t.label})` : `runnable at ${t.label}`;
      return `  [${t.id}] ${t.name} (${t.kind}): ${what}`;
    });
  }

  /** The last steps and announced events, oldest first. */
  describeTrace(): string[] {
    const from = Math.max(0, this.choices.length - TRACE_KEEP);
    const lines: string[] = [];
    for (let i = from; i < this.choices.length; i++) lines.push(`  #${i} ${this.tasks[this.choices[i]!]!.name} from '${this.labels[i]}'`);
    return lines;
  }

  describeEvents(): string[] {
    return this.events.slice(-TRACE_KEEP).map((e) => '  ' + e);
  }
}
