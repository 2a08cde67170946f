/**
 * The reentrancy guard, per transaction.
 *
 * QEMU marks a device "engaged" with one flag while any of its handlers or
 * bottom halves runs and refuses every access to its I/O regions meanwhile,
 * whoever makes it. Here the engagement lives in the *task* instead: a
 * DispatchContext is the chain of owners engaged by one transaction (a vCPU's
 * access and everything it triggers synchronously, a bottom half and its DMA,
 * one async transfer). An access to an owner already in the chain is a
 * re-entry and is refused; an access from another task is not, because it can
 * only reach the device between that device's steps (the realm is
 * single-threaded; a device's awaits are where it has published consistent
 * state, like dropping a lock). docs/dma.md gives the argument in full.
 *
 * The running task's context is per-realm module state, exactly as QEMU's
 * current thread is: JS runs one task at a time per realm, so "the context of
 * the code now running" is well defined. Anything that carries a transaction
 * across a suspension (the async DMA helper, the schedule explorer, a mailbox
 * to another realm) captures the context and re-installs it with
 * `withContext`/`switchContext`.
 */

/** A guard key: the thing dispatch engages (a DeviceOwner's ReentrancyGuard). Named for reports. */
export type GuardKey = object;

export class DispatchContext {
  /** Keys engaged by this task, outermost first. */
  private keys: GuardKey[] = [];
  private depth = 0;

  constructor(readonly label = 'task') {}

  get chainDepth(): number {
    return this.depth;
  }

  /** True when `key` is engaged anywhere in this task's chain. */
  engaged(key: GuardKey): boolean {
    const k = this.keys;
    for (let i = this.depth - 1; i >= 0; i--) if (k[i] === key) return true;
    return false;
  }

  push(key: GuardKey): void {
    if (this.depth === this.keys.length) this.keys.push(key);
    else this.keys[this.depth] = key;
    this.depth++;
  }

  /**
   * Disengage `key`: normally the innermost entry. If it is deeper (a caller
   * disengaged out of order) the innermost occurrence is removed so the
   * chain stays consistent; absent keys are ignored.
   */
  remove(key: GuardKey): void {
    const k = this.keys;
    for (let i = this.depth - 1; i >= 0; i--) {
      if (k[i] === key) {
        for (let j = i; j < this.depth - 1; j++) k[j] = k[j + 1]!;
        this.depth--;
        k[this.depth] = undefined as unknown as GuardKey;
        return;
      }
    }
  }

  /** The engaged keys, outermost first (for reports; keys with a `name` show it). */
  chain(): string[] {
    return this.keys.slice(0, this.depth).map((k) => {
      const n = (k as { name?: unknown }).name;
      return typeof n === 'string' ? n : '?';
    });
  }

  /**
   * A fresh context continuing this one: the same chain, independent from now
   * on. An async transfer started by a device forks the starter's context so
   * its later chunks still count as part of the same transaction.
   */
  fork(label = this.label): DispatchContext {
    const c = new DispatchContext(label);
    for (let i = 0; i < this.depth; i++) c.push(this.keys[i]!);
    return c;
  }
}

let current = new DispatchContext('main');

/** The running task's context (read by ReentrancyGuard in src/memory/owner.ts on every guarded dispatch). */
export function currentContext(): DispatchContext {
  return current;
}

/** Install `ctx` as the running task's context; returns the previous one. For schedulers. */
export function switchContext(ctx: DispatchContext): DispatchContext {
  const prev = current;
  current = ctx;
  return prev;
}

/** Run `fn` as part of the transaction `ctx` (restores the previous context after). */
export function withContext<T>(ctx: DispatchContext, fn: () => T): T {
  const prev = current;
  current = ctx;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/** What runOnBehalf needs of an owner: a DeviceOwner has a reentrancy guard; a bare WorkOwner does not. */
interface MaybeGuarded {
  readonly name: string;
  readonly reentrancyGuard?: { runGuarded<T>(fn: () => T): T };
}

/**
 * Run a bottom half or timer callback on behalf of `owner` (the wrapper the
 * event loop uses). While it runs, the owner's guard is engaged in the running
 * transaction: its DMA cannot reach its own I/O regions, nor can a device it
 * DMAs into bounce back into it. A bottom half run from the top of the event
 * loop is its own transaction; one run by a nested event loop inside a handler
 * continues that handler's chain, the conservative choice.
 */
export function runOnBehalf<T>(owner: MaybeGuarded | undefined, fn: () => T): T {
  const g = owner?.reentrancyGuard;
  return g ? g.runGuarded(fn) : fn();
}
