/**
 * A device mutex: exclusive, not recursive. `lock()` is for code that can run
 * under the explorer (it awaits); `lockSync()` is for synchronous runtime code
 * and reports instead of blocking.
 */
import type { TaskState } from './context.js';
import type { SyncEnv } from './env.js';
import { LockUsageError } from './errors.js';
import { LockBase, type LockOptions } from './lock-base.js';
import type { AcquireOptions } from './validator.js';

export class Mutex extends LockBase {
  protected owner: TaskState | null = null;

  constructor(env: SyncEnv, className: string, opts?: LockOptions) {
    super(env, className, opts);
  }

  get locked(): boolean {
    return this.owner !== null;
  }

  /** The holding task's name, for reports. */
  get holder(): string | null {
    return this.owner?.name ?? null;
  }

  lock(opts?: AcquireOptions): Promise<void> {
    return this.acquire('write', opts);
  }

  lockSync(opts?: AcquireOptions): void {
    this.acquireSync('write', opts);
  }

  tryLock(opts?: AcquireOptions): boolean {
    return this.tryAcquire('write', opts);
  }

  unlock(site?: string): void {
    const t = this.env.tasks.current();
    this.checkUnlockBy(t, this.owner, site);
    this.owner = null;
    this.releaseBy(t);
  }

  /** Run fn with the lock held (synchronous runtime code). */
  withLockSync<T>(fn: () => T, opts?: AcquireOptions): T {
    this.lockSync(opts);
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  isHeld(): boolean {
    return this.owner === this.env.tasks.current();
  }

  assertHeld(): void {
    if (!this.isHeld()) throw new LockUsageError('assert-held', `${this.name} is not held by ${this.env.tasks.current().name}`);
  }

  assertNotHeld(): void {
    if (this.isHeld()) throw new LockUsageError('assert-not-held', `${this.name} is held by ${this.env.tasks.current().name}`);
  }

  protected canTake(): boolean {
    return this.owner === null;
  }

  protected take(t: TaskState): void {
    this.owner = t;
  }

  protected waitReason(): string {
    return `mutex ${this.name} held by ${this.owner?.name ?? 'nobody'}`;
  }
}
