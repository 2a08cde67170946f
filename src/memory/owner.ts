/**
 * The device a region belongs to, and the reentrancy guard dispatch engages
 * while that device's callbacks run.
 *
 * QEMU (8.1+) keeps one flag per device: while it is set, any access to one of
 * the device's I/O regions is refused. That catches MMIO -> DMA -> own MMIO and
 * bottom half -> DMA -> own MMIO loops, the source of a run of CVEs. The DMA
 * layer engages the same guard around bottom halves and timers with
 * `runGuarded`.
 */
import { currentContext } from './dispatch-context.js';
import type { SyncEnv } from '../sync/env.js';

export class ReentrancyGuard {
  /**
   * True while one of the owner's handlers (MMIO callback, bottom half, timer)
   * runs in the current transaction. Per transaction, not per device: the
   * engagement lives in the running task's DispatchContext (src/memory/dispatch-context.ts),
   * so another task's access is not refused. Setting it engages/disengages.
   */
  get engaged(): boolean {
    return currentContext().engaged(this);
  }
  set engaged(v: boolean) {
    if (v) currentContext().push(this);
    else currentContext().remove(this);
  }
  /** Accesses refused because the guard was engaged. */
  refused = 0;

  /** Engage the guard; returns false (and counts) if it was already engaged. */
  enter(): boolean {
    if (this.engaged) {
      this.refused++;
      return false;
    }
    this.engaged = true;
    return true;
  }

  exit(): void {
    this.engaged = false;
  }

  /**
   * Run `fn` with the guard engaged (for bottom halves and timers). If the guard
   * is already engaged the handler still runs but nothing is released early.
   */
  runGuarded<T>(fn: () => T): T {
    const entered = !this.engaged;
    this.engaged = true;
    try {
      return fn();
    } finally {
      if (entered) this.engaged = false;
    }
  }
}

export interface DeviceOwner {
  readonly name: string;
  readonly reentrancyGuard: ReentrancyGuard;
  /**
   * The env the device's lifetime tracker (and its regions', when built after
   * it is set) uses; the realm's (memorySyncEnv) when absent. See lifetime.ts.
   */
  readonly syncEnv?: SyncEnv;
}

/** A plain owner for devices that need nothing else. */
export function deviceOwner(name: string): DeviceOwner {
  return { name, reentrancyGuard: new ReentrancyGuard() };
}
