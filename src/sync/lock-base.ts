import type { TaskState } from './context.js';
import type { SyncEnv } from './env.js';
import { LockContentionError, LockUsageError } from './errors.js';
import type { AcquireMode, AcquireOptions, LockIdentity } from './validator.js';

export interface LockOptions {
  /** Instance name for reports (default: the class name and an id). */
  readonly name?: string;
  /** Same-class nesting order, e.g. [bus, device, function]. */
  readonly orderKey?: readonly number[];
}

/** Common state of every lock: identity for the validator, and the blocking protocol. */
export abstract class LockBase implements LockIdentity {
  readonly name: string;
  readonly orderKey: readonly number[] | null;
  protected lastReleaser = -1;

  constructor(
    protected readonly env: SyncEnv,
    readonly className: string,
    opts?: LockOptions,
  ) {
    this.name = opts?.name ?? `${className}#${env.nextId()}`;
    this.orderKey = opts?.orderKey ?? null;
  }

  /** Blocking acquisition for explorer-capable code: a sync point, validation, then wait until `canTake`. */
  protected async acquire(mode: AcquireMode, opts: AcquireOptions | undefined): Promise<void> {
    const env = this.env;
    const p = env.tasks.syncPoint(`${mode === 'write' ? 'lock' : 'read-lock'} ${this.name}`);
    if (p) await p;
    const t = env.tasks.current();
    const v = env.validator;
    if (v.enabled) v.beforeAcquire(t, this, mode, opts);
    if (!this.canTake(t, mode)) {
      if (!env.tasks.cooperative) this.contention(t, mode);
      this.waitBegin(mode);
      try {
        do {
          await env.tasks.waitUntil(this.waitReason(mode), () => this.canTake(t, mode));
        } while (!this.canTake(t, mode));
      } finally {
        this.waitEnd(mode);
      }
    }
    this.take(t, mode);
    if (v.enabled) v.acquired(t, this, mode, opts);
  }

  /** Synchronous acquisition for real runtime code: never waits. */
  protected acquireSync(mode: AcquireMode, opts: AcquireOptions | undefined): void {
    const env = this.env;
    const t = env.tasks.current();
    const v = env.validator;
    if (v.enabled) v.beforeAcquire(t, this, mode, opts);
    if (!this.canTake(t, mode)) this.contention(t, mode);
    this.take(t, mode);
    if (v.enabled) v.acquired(t, this, mode, opts);
  }

  protected tryAcquire(mode: AcquireMode, opts: AcquireOptions | undefined): boolean {
    const t = this.env.tasks.current();
    if (!this.canTake(t, mode)) return false;
    this.take(t, mode);
    const v = this.env.validator;
    if (v.enabled) v.acquired(t, this, mode, opts);
    return true;
  }

  protected releaseBy(t: TaskState): void {
    const v = this.env.validator;
    if (v.enabled) v.released(t, this);
    this.lastReleaser = t.id;
  }

  /** An exclusive lock's unlock by `t` while `owner` holds it: anything but the owner is a usage error. */
  protected checkUnlockBy(t: TaskState, owner: TaskState | null, site?: string): void {
    if (owner === t) return;
    if (owner !== null) {
      this.env.validator.badUnlock(t, this, `unlock of a lock held by ${owner.name}`, site);
      throw new LockUsageError('held-by-other', `${t.name} unlocks ${this.name}, held by ${owner.name}`);
    }
    this.badUnlock(t, site);
  }

  protected badUnlock(t: TaskState, site?: string): never {
    const double = this.lastReleaser === t.id;
    const what = double ? 'double unlock' : 'unlock of a lock not held';
    this.env.validator.badUnlock(t, this, what, site);
    throw new LockUsageError(double ? 'double-unlock' : 'not-held', `${what}: ${this.name} by ${t.name}`);
  }

  private contention(t: TaskState, mode: AcquireMode): never {
    const msg = `${t.name} would block acquiring ${this.name} (${mode}): ${this.waitReason(mode)}`;
    this.env.hazards.report({ kind: 'contention', message: msg });
    throw new LockContentionError(msg);
  }

  protected abstract canTake(t: TaskState, mode: AcquireMode): boolean;
  protected abstract take(t: TaskState, mode: AcquireMode): void;
  protected abstract waitReason(mode: AcquireMode): string;
  protected waitBegin(_mode: AcquireMode): void {}
  protected waitEnd(_mode: AcquireMode): void {}
}
