/**
 * The big lock: exclusive and recursive with a per-task depth count (the
 * "lockmap" of seed 000). Re-acquisition by the holder only bumps the depth;
 * the validator sees the outermost acquisition and the final release.
 * Recursion hides re-entrancy rather than preventing it: the reentrancy guard
 * (docs/dma.md) is what refuses MMIO -> DMA -> own MMIO.
 */
import type { TaskState } from './context.js';
import type { SyncEnv } from './env.js';
import { LockUsageError } from './errors.js';
import { LockBase, type LockOptions } from './lock-base.js';
import type { AcquireOptions } from './validator.js';

export class BigLock extends LockBase {
  private owner: TaskState | null = null;
  private count = 0;

  constructor(env: SyncEnv, className = 'big-lock', opts?: LockOptions) {
    super(env, className, opts);
  }

  /** The current task's depth (0 when it does not hold the lock). */
  get depth(): number {
    return this.owner === this.env.tasks.current() ? this.count : 0;
  }

  get holder(): string | null {
    return this.owner?.name ?? null;
  }

  async lock(opts?: AcquireOptions): Promise<void> {
    if (this.owner !== null && this.owner === this.env.tasks.current()) {
      this.count++;
      return;
    }
    await this.acquire('write', opts);
  }

  lockSync(opts?: AcquireOptions): void {
    if (this.owner !== null && this.owner === this.env.tasks.current()) {
      this.count++;
      return;
    }
    this.acquireSync('write', opts);
  }

  tryLock(opts?: AcquireOptions): boolean {
    if (this.owner !== null && this.owner === this.env.tasks.current()) {
      this.count++;
      return true;
    }
    return this.tryAcquire('write', opts);
  }

  unlock(site?: string): void {
    const t = this.env.tasks.current();
    this.checkUnlockBy(t, this.owner, site);
    if (--this.count > 0) return;
    this.owner = null;
    this.releaseBy(t);
  }

  isHeld(): boolean {
    return this.owner === this.env.tasks.current();
  }

  assertHeld(): void {
    if (!this.isHeld()) throw new LockUsageError('assert-held', `${this.name} is not held by ${this.env.tasks.current().name}`);
  }

  assertNotHeld(): void {
    if (this.isHeld()) throw new LockUsageError('assert-not-held', `${this.name} is held by ${this.env.tasks.current().name} (depth ${this.count})`);
  }

  protected canTake(): boolean {
    return this.owner === null;
  }

  protected take(t: TaskState): void {
    this.owner = t;
    this.count = 1;
  }

  protected waitReason(): string {
    return `big lock ${this.name} held by ${this.owner?.name ?? 'nobody'} (depth ${this.count})`;
  }
}
