/**
 * Where the channel subsystem's asynchronous work goes: a channel executing a
 * function, a host I/O interruption being delivered, a workqueue item. The
 * components never run such work themselves (no setTimeout, no microtasks);
 * they post it, and whoever owns the queue (the machine's bottom halves, a
 * test, the schedule explorer) decides when, and in which order, it runs.
 */
import type { BottomHalf, Scheduler, WorkOwner } from '../../sync/work.js';

export interface CssWorkQueue {
  post(label: string, work: () => void): void;
}

export interface PostedWork {
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
}

/**
 * A queue that runs nothing until told to: tests and explorer scenarios pick
 * the next item (FIFO with runNext, or any item with runAt) to create exactly
 * the interleaving they want.
 */
export class ManualWorkQueue implements CssWorkQueue {
  private items: PostedWork[] = [];
  private seq = 0;
  /** Labels of the items run so far, in order (for traces). */
  readonly ran: string[] = [];

  constructor(readonly name: string) {}

  post(label: string, work: () => void): void {
    this.items.push({ seq: this.seq++, label, run: work });
  }

  get size(): number {
    return this.items.length;
  }

  labels(): string[] {
    return this.items.map((w) => w.label);
  }

  /** Run the oldest item; false when empty. */
  runNext(): boolean {
    const w = this.items.shift();
    if (!w) return false;
    this.ran.push(w.label);
    w.run();
    return true;
  }

  /** Run the item at index i (0 = oldest); false when out of range. */
  runAt(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.items.length) return false;
    const [w] = this.items.splice(i, 1);
    this.ran.push(w!.label);
    w!.run();
    return true;
  }

  /** Run the oldest item whose label starts with prefix; false when none. */
  runFirst(prefix: string): boolean {
    const i = this.items.findIndex((w) => w.label.startsWith(prefix));
    return i >= 0 && this.runAt(i);
  }

  /** Run until empty or `limit` items ran (work may post more work); returns how many ran. */
  drain(limit = 10_000): number {
    let n = 0;
    while (n < limit && this.runNext()) n++;
    return n;
  }
}

/**
 * The machine's way: posted work runs in FIFO order from one bottom half, a
 * bounded batch per invocation (re-scheduling itself for the rest) so a
 * storm of channel work never starves the event loop.
 */
export class BottomHalfWorkQueue implements CssWorkQueue {
  private readonly items: PostedWork[] = [];
  private readonly bh: BottomHalf;
  private seq = 0;

  constructor(
    scheduler: Scheduler,
    owner?: WorkOwner,
    private readonly batch = 64,
  ) {
    this.bh = scheduler.newBottomHalf(() => this.run(), owner);
  }

  post(label: string, work: () => void): void {
    this.items.push({ seq: this.seq++, label, run: work });
    this.bh.schedule();
  }

  get size(): number {
    return this.items.length;
  }

  private run(): void {
    for (let n = 0; n < this.batch; n++) {
      const w = this.items.shift();
      if (!w) return;
      w.run();
    }
    if (this.items.length > 0) this.bh.schedule();
  }
}
