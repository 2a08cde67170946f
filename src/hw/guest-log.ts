/**
 * Guest-error log lines with bounded state. A hostile guest chooses what goes
 * into these messages (a queue number, an address), so "log each distinct
 * message once" needs a bound on what is remembered, and a flood of new
 * distinct messages needs a bound on how many lines reach the log:
 *
 * - a message seen among the last `remember` distinct ones is not repeated;
 * - at most `burst` lines, refilled at `perSecond`, are written; the rest are
 *   counted, and the next line written says how many were suppressed.
 *
 * State is O(remember) whatever the guest does.
 */
export interface GuestLogOptions {
  /** Distinct messages remembered for de-duplication (default 64). */
  remember?: number;
  /** Lines that may be written back to back (default 20). */
  burst?: number;
  /** Sustained lines per second (default 2). */
  perSecond?: number;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
}

export class GuestLog {
  private readonly seen = new Map<string, true>();
  private readonly remember: number;
  private readonly burst: number;
  private readonly perMs: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;
  /** Lines not written because of the rate limit, since the last one written. */
  private pendingSuppressed = 0;
  /** Lines not written (duplicates and rate-limited), in total. */
  suppressed = 0;
  /** Lines written, in total. */
  written = 0;

  constructor(
    private readonly sink: (line: string) => void,
    opts: GuestLogOptions = {},
  ) {
    this.remember = Math.max(1, opts.remember ?? 64);
    this.burst = Math.max(1, opts.burst ?? 20);
    this.perMs = (opts.perSecond ?? 2) / 1000;
    this.now = opts.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Log `message` unless it is a recent duplicate or over the rate; returns whether a line was written. */
  log(message: string): boolean {
    if (this.seen.has(message)) {
      // Refresh its place: the most recently seen messages are the ones remembered.
      this.seen.delete(message);
      this.seen.set(message, true);
      this.suppressed++;
      return false;
    }
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) * this.perMs);
    this.last = t;
    if (this.tokens < 1) {
      this.pendingSuppressed++;
      this.suppressed++;
      return false;
    }
    this.tokens -= 1;
    this.seen.set(message, true);
    if (this.seen.size > this.remember) this.seen.delete(this.seen.keys().next().value as string);
    if (this.pendingSuppressed) {
      this.sink(`${message} (${this.pendingSuppressed} more guest-error lines suppressed)`);
      this.pendingSuppressed = 0;
    } else this.sink(message);
    this.written++;
    return true;
  }

  /** Messages currently remembered (at most `remember`). */
  get remembered(): number {
    return this.seen.size;
  }
}
