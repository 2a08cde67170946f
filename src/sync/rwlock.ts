/**
 * A reader-writer lock with writer preference and an explicit recursive-read
 * policy (Xen's per-domain vPCI lock of seed 001 is one).
 *
 * - recursiveRead: false (default): a reader is blocked by a held writer and
 *   by a waiting writer, so a task that re-reads while a writer waits
 *   self-deadlocks; the validator reports any read-while-reading of the class.
 * - recursiveRead: true: readers are blocked only by a held writer; nested
 *   reads by one task are legal.
 */
import type { TaskState } from './context.js';
import type { SyncEnv } from './env.js';
import { LockUsageError } from './errors.js';
import { LockBase, type LockOptions } from './lock-base.js';
import type { AcquireMode, AcquireOptions } from './validator.js';

export interface RwLockOptions extends LockOptions {
  readonly recursiveRead?: boolean;
}

export class RwLock extends LockBase {
  readonly recursiveRead: boolean;
  private writer: TaskState | null = null;
  private readonly readers = new Map<number, number>();
  private readerCount = 0;
  private waitingWriters = 0;

  constructor(env: SyncEnv, className: string, opts?: RwLockOptions) {
    super(env, className, opts);
    this.recursiveRead = opts?.recursiveRead ?? false;
  }

  private get readMode(): AcquireMode {
    return this.recursiveRead ? 'read-recursive' : 'read';
  }

  get readersHeld(): number {
    return this.readerCount;
  }

  get writeLocked(): boolean {
    return this.writer !== null;
  }

  read(opts?: AcquireOptions): Promise<void> {
    return this.acquire(this.readMode, opts);
  }

  readSync(opts?: AcquireOptions): void {
    this.acquireSync(this.readMode, opts);
  }

  tryRead(opts?: AcquireOptions): boolean {
    return this.tryAcquire(this.readMode, opts);
  }

  write(opts?: AcquireOptions): Promise<void> {
    return this.acquire('write', opts);
  }

  writeSync(opts?: AcquireOptions): void {
    this.acquireSync('write', opts);
  }

  tryWrite(opts?: AcquireOptions): boolean {
    return this.tryAcquire('write', opts);
  }

  unlockRead(site?: string): void {
    const t = this.env.tasks.current();
    const n = this.readers.get(t.id) ?? 0;
    if (n === 0) {
      if (this.writer === t) throw new LockUsageError('wrong-mode', `${t.name} read-unlocks ${this.name}, held for writing`);
      this.badUnlock(t, site);
    }
    if (n === 1) this.readers.delete(t.id);
    else this.readers.set(t.id, n - 1);
    this.readerCount--;
    this.releaseBy(t);
  }

  unlockWrite(site?: string): void {
    const t = this.env.tasks.current();
    if (this.writer !== t) {
      if (this.readers.has(t.id)) throw new LockUsageError('wrong-mode', `${t.name} write-unlocks ${this.name}, held for reading`);
      this.badUnlock(t, site);
    }
    this.writer = null;
    this.releaseBy(t);
  }

  /** Release whichever mode the current task holds. */
  unlock(site?: string): void {
    if (this.writer === this.env.tasks.current()) this.unlockWrite(site);
    else this.unlockRead(site);
  }

  isReadHeld(): boolean {
    return this.readers.has(this.env.tasks.current().id);
  }

  isWriteHeld(): boolean {
    return this.writer === this.env.tasks.current();
  }

  assertReadHeld(): void {
    if (!this.isReadHeld() && !this.isWriteHeld()) throw new LockUsageError('assert-held', `${this.name} is not held by ${this.env.tasks.current().name}`);
  }

  assertWriteHeld(): void {
    if (!this.isWriteHeld()) throw new LockUsageError('assert-held', `${this.name} is not write-held by ${this.env.tasks.current().name}`);
  }

  assertNotHeld(): void {
    if (this.isReadHeld() || this.isWriteHeld()) throw new LockUsageError('assert-not-held', `${this.name} is held by ${this.env.tasks.current().name}`);
  }

  protected canTake(_t: TaskState, mode: AcquireMode): boolean {
    if (this.writer !== null) return false;
    if (mode === 'write') return this.readerCount === 0;
    if (mode === 'read-recursive') return true;
    return this.waitingWriters === 0;
  }

  protected take(t: TaskState, mode: AcquireMode): void {
    if (mode === 'write') {
      this.writer = t;
      return;
    }
    this.readers.set(t.id, (this.readers.get(t.id) ?? 0) + 1);
    this.readerCount++;
  }

  protected waitReason(mode: AcquireMode): string {
    const who = this.writer ? `writer ${this.writer.name}` : `${this.readerCount} reader(s)${this.waitingWriters ? `, ${this.waitingWriters} waiting writer(s)` : ''}`;
    return `rwlock ${this.name} (${mode === 'write' ? 'write' : 'read'}) held by ${who}`;
  }

  protected override waitBegin(mode: AcquireMode): void {
    if (mode === 'write') this.waitingWriters++;
  }

  protected override waitEnd(mode: AcquireMode): void {
    if (mode === 'write') this.waitingWriters--;
  }
}
