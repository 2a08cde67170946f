/**
 * One implementation of a locked operation for both kinds of caller.
 *
 * Real code in a realm runs one task, so an acquisition either succeeds at
 * once or is a bug (reported, never waited on); the schedule explorer runs many
 * simulated tasks, so an acquisition is a point where the task parks and others
 * run. A component that must serve both writes the operation once, as a
 * generator that yields each acquisition it needs (`TaskOp`), and its callers
 * pick the driver: `runOp` completes it synchronously (what the machine's MMIO
 * handlers call), `runOpPreemptible` awaits every acquisition (what explorer
 * tasks call). Releases are ordinary calls inside the generator (`finally`
 * blocks), so a failed acquisition unwinds the locks already held: the driver
 * throws the error into the generator.
 */

/** An acquisition a TaskOp needs before it continues. */
export interface Acquisition {
  /** Take it now; a realm cannot wait, so contention throws (LockContentionError). */
  now(): void;
  /** Take it, parking the task until it can (explorer tasks). */
  wait(): Promise<void>;
}

export type TaskOp<T> = Generator<Acquisition, T, undefined>;

/** Run `op` to completion synchronously (real code). */
export function runOp<T>(op: TaskOp<T>): T {
  let r = op.next();
  while (!r.done) {
    let failed = false;
    let err: unknown;
    try {
      r.value.now();
    } catch (e) {
      failed = true;
      err = e;
    }
    r = failed ? op.throw(err) : op.next();
  }
  return r.value;
}

/** Run `op`, awaiting every acquisition (explorer tasks: each one is a sync point). */
export async function runOpPreemptible<T>(op: TaskOp<T>): Promise<T> {
  let r = op.next();
  while (!r.done) {
    let failed = false;
    let err: unknown;
    try {
      await r.value.wait();
    } catch (e) {
      failed = true;
      err = e;
    }
    r = failed ? op.throw(err) : op.next();
  }
  return r.value;
}

/** The acquisitions of a lock with sync and awaiting forms (src/sync's Mutex and RwLock). */
export function exclusive(l: { lockSync(): void; lock(): Promise<void> }): Acquisition {
  return { now: () => l.lockSync(), wait: () => l.lock() };
}

export function reading(l: { readSync(): void; read(): Promise<void> }): Acquisition {
  return { now: () => l.readSync(), wait: () => l.read() };
}

export function writing(l: { writeSync(): void; write(): Promise<void> }): Acquisition {
  return { now: () => l.writeSync(), wait: () => l.write() };
}
