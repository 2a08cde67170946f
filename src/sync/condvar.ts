/**
 * A condition variable bound to a Mutex. wait() releases the mutex, blocks
 * until notified, and re-acquires it. A notify with no waiter is lost, as with
 * real condition variables, which is what makes the lost-wakeup bug possible.
 */
import type { SyncEnv } from './env.js';
import type { Mutex } from './mutex.js';

export class CondVar {
  private readonly waiters: { woken: boolean }[] = [];

  constructor(
    private readonly env: SyncEnv,
    readonly name: string,
  ) {}

  async wait(m: Mutex): Promise<void> {
    m.assertHeld();
    const w = { woken: false };
    this.waiters.push(w);
    m.unlock();
    await this.env.tasks.waitUntil(`condvar ${this.name}`, () => w.woken);
    await m.lock();
  }

  notify(): void {
    const w = this.waiters.shift();
    if (w) w.woken = true;
  }

  notifyAll(): void {
    for (const w of this.waiters) w.woken = true;
    this.waiters.length = 0;
  }
}
