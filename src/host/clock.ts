/**
 * The host's monotonic clock in nanoseconds, the same in every realm of a
 * machine: Node's process.hrtime is one clock for the whole process; in a
 * browser each realm's performance.now() counts from its own timeOrigin, so
 * every realm counts from one agreed origin (a worker adopts its creator's,
 * see setClockOrigin).
 */
const proc = (globalThis as { process?: { hrtime?: () => [number, number] } }).process;
const hrtime = proc?.hrtime;

// Read on first use: in Node the `performance` global loads perf_hooks (~1 ms of every start), and
// only browsers (where it is built in) use the origin.
let originMs: number | undefined;

/** The origin (ms, on the performance.timeOrigin scale) this realm counts from. */
export function clockOrigin(): number {
  return (originMs ??= typeof performance !== 'undefined' ? performance.timeOrigin : 0);
}

/** A browser worker counts from its creator's origin. */
export function setClockOrigin(ms: number): void {
  originMs = ms;
}

export const monotonicNs: () => number = hrtime
  ? () => {
      // Indexed, not destructured: until V8 optimises this, destructuring runs the array
      // iterator protocol (two more objects per call; U-Boot polls the timer ~20,000 times).
      const t = hrtime();
      return t[0]! * 1e9 + t[1]!;
    }
  : () => (performance.timeOrigin - clockOrigin() + performance.now()) * 1e6;
