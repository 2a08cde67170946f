/**
 * Epochs and grace periods (RCU over realms).
 *
 * The main realm publishes flat-view snapshots with increasing epochs
 * (G_EPOCH). A reader realm adopts the newest snapshot only at a point where
 * it holds no reference into an older one (a hart between quanta: no access
 * in flight), and then stores that epoch in its W_ACK word. A grace period
 * for epoch E ends when every reader that can still hold a snapshot has
 * acknowledged E or later: from then on nothing anywhere can reach a range
 * that E removed, so the device behind it may be retired. Readers that have
 * exited hold nothing and are skipped, and so are realms never given a
 * snapshot (W_ACK still 0: epochs start at 1); a realm being spawned has its
 * W_ACK set to the epoch of the snapshot it is spawned with, before it runs.
 *
 * The main realm never blocks on a grace period: completions are polled from
 * its loop (a hart may be waiting for the main realm to answer its request
 * before it can reach its next quantum boundary and acknowledge).
 */
import { G_EPOCH, REALM_EXITED, SmpShared, W_ACK, W_ALIVE } from './shared.js';

interface Pending {
  readonly epoch: number;
  readonly cb: () => void;
}

export class GracePeriods {
  private pending: Pending[] = [];

  constructor(
    private readonly shared: SmpShared,
    /** Realm numbers of the snapshot readers (harts, I/O threads). */
    private readonly readers: readonly number[],
  ) {}

  /** Make `epoch` the published epoch and wake every reader so sleeping ones acknowledge it. */
  publish(epoch: number): void {
    const sh = this.shared;
    if (epoch <= Atomics.load(sh.i32, G_EPOCH)) throw new RangeError(`epoch ${epoch} does not advance`);
    Atomics.store(sh.i32, G_EPOCH, epoch);
    for (const r of this.readers) sh.kick(r);
  }

  /** Lowest epoch acknowledged by a reader that may still hold a snapshot (Infinity: none). */
  minAck(): number {
    const sh = this.shared;
    let m = Infinity;
    for (const r of this.readers) {
      if (sh.load(r, W_ALIVE) === REALM_EXITED) continue;
      const a = sh.load(r, W_ACK);
      if (a === 0) continue;
      if (a < m) m = a;
    }
    return m;
  }

  /** Whether the grace period for `epoch` has ended. */
  passed(epoch: number): boolean {
    return this.minAck() >= epoch;
  }

  /** Run cb once the grace period for `epoch` ends (at once if it has; otherwise from poll()). */
  after(epoch: number, cb: () => void): void {
    if (this.passed(epoch)) cb();
    else this.pending.push({ epoch, cb });
  }

  /** Promise form of after(). */
  wait(epoch: number): Promise<void> {
    return new Promise((resolve) => this.after(epoch, resolve));
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Complete the grace periods that have ended; returns how many callbacks ran. */
  poll(): number {
    if (this.pending.length === 0) return 0;
    const m = this.minAck();
    const due = this.pending.filter((p) => p.epoch <= m);
    if (due.length === 0) return 0;
    this.pending = this.pending.filter((p) => p.epoch > m);
    for (const p of due) p.cb();
    return due.length;
  }
}
