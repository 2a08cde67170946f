/**
 * Time and deferred work, as devices see it (QEMU's QEMUTimer, QEMUBH and
 * QEMU_CLOCK_VIRTUAL). Devices receive a Scheduler from the machine; they
 * never read the host clock themselves, so a deterministic run is replayable.
 *
 * These are interfaces only, kept at the bottom of the stack so the memory
 * core, DMA and device models can name them without reaching up into the
 * machine that implements them (src/machine/event-loop.ts).
 */

export interface Clock {
  /** Current virtual time in nanoseconds (an integer below 2^53). */
  now(): number;
}

export interface Timer {
  /** Arm (or re-arm) to fire once when the clock reaches `deadlineNs`. */
  mod(deadlineNs: number): void;
  /** Disarm; a no-op when not armed. */
  del(): void;
  readonly pending: boolean;
}

export interface BottomHalf {
  /** Run the callback soon, once, from the event loop (not re-entrantly). Idempotent while pending. */
  schedule(): void;
  cancel(): void;
}

/**
 * The owner a timer or bottom half runs on behalf of. When it carries a
 * reentrancy guard (every DeviceOwner does: src/memory/owner.ts), the event
 * loop runs the callback with that guard engaged, so BH -> DMA -> own MMIO is
 * refused like MMIO -> DMA -> own MMIO.
 */
export interface WorkOwner {
  readonly name: string;
  readonly reentrancyGuard?: { runGuarded<T>(fn: () => T): T };
}

export interface Scheduler {
  readonly clock: Clock;
  newTimer(cb: () => void, owner?: WorkOwner): Timer;
  newBottomHalf(cb: () => void, owner?: WorkOwner): BottomHalf;
}

/**
 * Run a bottom half or timer callback on behalf of `owner` (what every event
 * loop does around its callbacks). While it runs, the owner's guard is engaged
 * in the running transaction: its DMA cannot reach its own I/O regions, nor can
 * a device it DMAs into bounce back into it. A bottom half run from the top of
 * the event loop is its own transaction; one run by a nested event loop inside
 * a handler continues that handler's chain, the conservative choice.
 */
export function runOnBehalf<T>(owner: WorkOwner | undefined, fn: () => T): T {
  const g = owner?.reentrancyGuard;
  return g ? g.runGuarded(fn) : fn();
}
