/**
 * The host's monotonic clock in nanoseconds, the same in every realm of a
 * machine: Node's process.hrtime is one clock for the whole process; in a
 * browser each realm's performance.now() counts from its own timeOrigin, so
 * every realm counts from one agreed origin (a worker adopts its creator's,
 * see setClockOrigin).
 */
const proc = (globalThis as { process?: { hrtime?: () => [number, number] } }).process;
const hrtime = proc?.hrtime;

let originMs = typeof performance !== 'undefined' ? performance.timeOrigin : 0;

/** The origin (ms, on the performance.timeOrigin scale) this realm counts from. */
export function clockOrigin(): number {
  return originMs;
}

/** A browser worker counts from its creator's origin. */
export function setClockOrigin(ms: number): void {
  originMs = ms;
}

export const monotonicNs: () => number = hrtime
  ? () => {
      const [s, ns] = hrtime();
      return s * 1e9 + ns;
    }
  : () => (performance.timeOrigin - originMs + performance.now()) * 1e6;
