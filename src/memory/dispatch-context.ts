/**
 * The reentrancy guard's per-transaction context.
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
 * current thread is: JS runs one task at a time per realm and handlers cannot
 * suspend, so a chain is always empty when a task yields and "the context of
 * the code now running" is well defined. The one thing that carries a
 * transaction across suspensions is the async DMA helper (src/dma/block-io.ts),
 * which forks the starter's context and runs each step in it with
 * `withContext`. Nothing carries a chain to another realm: a hart realm's
 * request starts a fresh transaction in the device's realm, and a cycle of
 * blocking cross-realm requests is refused by the mailbox's wait-for check
 * (src/machine/smp/mailbox.ts) instead.
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
