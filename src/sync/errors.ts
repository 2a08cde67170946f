/** Errors of the synchronisation layer. Each names the lock or object involved. */

/** A lock used against its contract: unlocking a lock not held, a double unlock, a failed held/not-held assertion. */
export class LockUsageError extends Error {
  constructor(
    readonly kind: 'double-unlock' | 'not-held' | 'held-by-other' | 'assert-held' | 'assert-not-held' | 'wrong-mode',
    message: string,
  ) {
    super(message);
    this.name = 'LockUsageError';
  }
}

/**
 * Real (non-explorer) code tried to block. In a single realm nothing else can
 * run while we wait, so blocking would be a hang: it is reported instead.
 */
export class LockContentionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockContentionError';
  }
}

/** A removal completion was awaited by code running inside the object being removed. */
export class SelfWaitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelfWaitError';
  }
}
