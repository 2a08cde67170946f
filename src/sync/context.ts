/**
 * Task contexts: who is running now. Locks, the lock-order validator and the
 * lifetime tracker ask a TaskContext for the current task instead of reading a
 * global, so the same lock code serves real runtime code (one task per realm)
 * and the schedule explorer (many simulated tasks in one realm).
 */
import { LockContentionError } from './errors.js';

/**
 * The execution context a task runs in, as far as lock validation cares:
 * ordinary code, a bottom half, a timer callback, or interrupt delivery.
 * Ranks say who can preempt whom: irq (2) preempts bh/timer (1) and process
 * (0); bh and timer preempt process.
 */
export type ExecContext = 'process' | 'bh' | 'timer' | 'irq';

export const CONTEXT_RANK: Readonly<Record<ExecContext, number>> = { process: 0, bh: 1, timer: 1, irq: 2 };

/** Bits of TaskState.masked: contexts the task has disabled (cannot preempt it). */
export const MASK_IRQ = 1;
export const MASK_BH = 2;
export const MASK_TIMER = 4;
export const CONTEXT_MASK_BIT: Readonly<Record<Exclude<ExecContext, 'process'>, number>> = { irq: MASK_IRQ, bh: MASK_BH, timer: MASK_TIMER };

/** What kind of simulated thread a task is (for reports and the default context). */
export type TaskKind = 'main' | 'vcpu' | 'iothread' | 'bh' | 'timer' | 'irq';

export function defaultContextOf(kind: TaskKind): ExecContext {
  return kind === 'bh' || kind === 'timer' || kind === 'irq' ? kind : 'process';
}

/** One task's identity and the context bits the validator reads. */
export class TaskState {
  /** Contexts disabled by this task (MASK_* bits); masking irq also masks bh and timer. */
  masked = 0;
  context: ExecContext;
  /** The explorer's last sync point for this task (empty in real code): a cheap site for reports. */
  label = '';
  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: TaskKind,
  ) {
    this.context = defaultContextOf(kind);
  }

  /** MASK_* bits of the contexts that could preempt this task right now. */
  preemptMask(): number {
    const m = this.masked;
    if (m & MASK_IRQ) return 0;
    const rank = CONTEXT_RANK[this.context];
    if (rank >= 2) return 0;
    return rank === 1 ? MASK_IRQ : MASK_IRQ | ((MASK_BH | MASK_TIMER) & ~m);
  }

  /** Whether a context of kind `c` could preempt this task right now. */
  preemptibleBy(c: Exclude<ExecContext, 'process'>): boolean {
    if (CONTEXT_RANK[c] <= CONTEXT_RANK[this.context]) return false;
    if (this.masked & MASK_IRQ) return false;
    return (this.masked & CONTEXT_MASK_BIT[c]) === 0;
  }
}

/** Who is running, and how to block or yield. Provided by the realm or by the explorer. */
export interface TaskContext {
  /** True in the explorer: blocking parks the task and other tasks run. */
  readonly cooperative: boolean;
  /** True when only one task ever runs (a realm's own context): per-task bookkeeping can be skipped. */
  readonly singleTask?: boolean;
  current(): TaskState;
  /** A synchronisation point: the explorer may switch tasks here; real code returns undefined. */
  syncPoint(label: string): Promise<void> | undefined;
  /**
   * Block the current task until `ready()` holds. Real single-realm code
   * cannot wait for anybody (nobody else runs), so it throws LockContentionError.
   */
  waitUntil(reason: string, ready: () => boolean): Promise<void>;
}

/**
 * The task context of real runtime code in one realm: a single task whose
 * execution context changes while interrupt delivery, timers or bottom halves
 * run (runAs), so the validator's context rules see them.
 */
export class RealmTaskContext implements TaskContext {
  readonly cooperative = false;
  readonly singleTask = true;
  private readonly task: TaskState;

  constructor(name = 'main') {
    this.task = new TaskState(0, name, 'main');
  }

  current(): TaskState {
    return this.task;
  }

  syncPoint(): undefined {
    return undefined;
  }

  waitUntil(reason: string, ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    throw new LockContentionError(`${this.task.name}: would block on ${reason}, and nothing else runs in this realm`);
  }

  /** Run fn as if in `context` (interrupt delivery, a timer, a bottom half), restoring afterwards. */
  runAs<T>(context: ExecContext, fn: () => T): T {
    const saved = this.task.context;
    this.task.context = context;
    try {
      return fn();
    } finally {
      this.task.context = saved;
    }
  }
}

/** Disable contexts (MASK_* bits) on the current task; returns the previous mask for restoreContexts. */
export function maskContexts(task: TaskState, bits: number): number {
  const prev = task.masked;
  task.masked |= bits;
  return prev;
}

export function restoreContexts(task: TaskState, prev: number): void {
  task.masked = prev;
}
