import type { ReentrancyGuard } from '../memory/owner.js';

/**
 * Time and deferred work, as devices see it (QEMU's QEMUTimer, QEMUBH and
 * QEMU_CLOCK_VIRTUAL). Devices receive a Scheduler from the machine; they
 * never read the host clock themselves, so a deterministic run is replayable.
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
 * reentrancy guard (every DeviceOwner does), the event loop runs the callback
 * with that guard engaged, so BH -> DMA -> own MMIO is refused like
 * MMIO -> DMA -> own MMIO.
 */
export interface WorkOwner {
  readonly name: string;
  readonly reentrancyGuard?: ReentrancyGuard;
}

export interface Scheduler {
  readonly clock: Clock;
  newTimer(cb: () => void, owner?: WorkOwner): Timer;
  newBottomHalf(cb: () => void, owner?: WorkOwner): BottomHalf;
}
