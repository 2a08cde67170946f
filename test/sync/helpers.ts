import { TaskState, type TaskContext } from '../../src/sync/context.js';
import { LockContentionError } from '../../src/sync/errors.js';
import { createRealmSyncEnv, type SyncEnv } from '../../src/sync/env.js';
import type { LockReport } from '../../src/sync/validator.js';

/** A synchronous task context whose current task the test switches by hand. */
export class ManualTasks implements TaskContext {
  readonly cooperative = false;
  readonly all: TaskState[] = [];
  cur: TaskState;
  constructor(n: number) {
    for (let i = 0; i < n; i++) this.all.push(new TaskState(i, `t${i}`, 'vcpu'));
    this.cur = this.all[0]!;
  }
  current(): TaskState {
    return this.cur;
  }
  syncPoint(): undefined {
    return undefined;
  }
  waitUntil(reason: string, ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    throw new LockContentionError(reason);
  }
  as<T>(i: number, fn: () => T): T {
    const saved = this.cur;
    this.cur = this.all[i]!;
    try {
      return fn();
    } finally {
      this.cur = saved;
    }
  }
}

export function makeEnv(tasks = 2, debug = true): { env: SyncEnv; t: ManualTasks; reports: LockReport[]; hazards: string[] } {
  const t = new ManualTasks(tasks);
  const hazards: string[] = [];
  const env = createRealmSyncEnv({ debugLocks: true, debug, tasks: t, log: (s) => hazards.push(s) });
  return { env, t, reports: env.validator.reports, hazards };
}
