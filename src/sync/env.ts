/**
 * A SyncEnv bundles what locks and lifetimes need, passed in explicitly:
 * the task context, the lock-order validator, the sync-point hook and a sink
 * for hazards (use after removal, validator reports). One per realm in real
 * code (createRealmSyncEnv); one per run in the explorer.
 */
import { hostLog } from '../host/log.js';
import { RealmTaskContext, type TaskContext } from './context.js';
import { NO_SYNC_POINTS, type SyncPoints } from './sync-points.js';
import { LockValidator, type LockReport } from './validator.js';

export type HazardKind = 'lockdep' | 'use-after-removal' | 'contention';

export interface Hazard {
  readonly kind: HazardKind;
  readonly message: string;
  readonly report?: LockReport;
}

export interface HazardSink {
  report(h: Hazard): void;
}

export interface SyncEnv {
  readonly tasks: TaskContext;
  readonly validator: LockValidator;
  readonly points: SyncPoints;
  readonly hazards: HazardSink;
  /** Debug mode: lifetimes detect use after removal. Always on in the explorer. */
  readonly debug: boolean;
  /** Hands out lock instance ids (unique per env). */
  nextId(): number;
}

export interface RealmSyncEnvOptions {
  /** `--debug-locks`: enable the lock-order validator. */
  debugLocks?: boolean;
  /** Enable the use-after-removal detector (default: same as debugLocks). */
  debug?: boolean;
  /** Where hazards are logged (default: stderr). */
  log?: (line: string) => void;
  tasks?: TaskContext;
  points?: SyncPoints;
}

export function createRealmSyncEnv(opts: RealmSyncEnvOptions = {}): SyncEnv {
  const log = opts.log ?? hostLog;
  const validator = new LockValidator(opts.debugLocks ?? false);
  const hazards: HazardSink = { report: (h) => log(h.message) };
  validator.onReport = (r) => hazards.report({ kind: 'lockdep', message: r.text, report: r });
  let id = 0;
  return {
    tasks: opts.tasks ?? new RealmTaskContext(),
    validator,
    points: opts.points ?? NO_SYNC_POINTS,
    hazards,
    debug: opts.debug ?? opts.debugLocks ?? false,
    nextId: () => ++id,
  };
}
