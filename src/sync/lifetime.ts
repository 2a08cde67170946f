/**
 * In-flight accounting for regions and devices.
 *
 * Every access that reaches an object's code is bracketed by tryEnter()/exit().
 * remove() stops new entries at once (tryEnter fails: callers then behave as
 * if the object were gone, e.g. unassigned reads all-ones) and completes when
 * the last in-flight access exits. A removal requested from inside one of the
 * object's own accesses is deferred: it completes when that access (and any
 * other) exits, and waiting on it from there is refused (SelfWaitError) rather
 * than waiting on itself. In debug mode (and always in the explorer) check()
 * reports code that touches the object after removal completed.
 */
import type { SyncEnv } from './env.js';
import { SelfWaitError } from './errors.js';

export type LifetimeState = 'live' | 'removing' | 'removed';

export class RemovalCompletion {
  private isDone = false;
  private readonly callbacks: (() => void)[] = [];

  constructor(
    private readonly env: SyncEnv,
    private readonly lifetime: Lifetime,
    /** True when remove() was called from inside the object's own access. */
    readonly deferred: boolean,
  ) {}

  get done(): boolean {
    return this.isDone;
  }

  /** Run cb once removal completes (immediately if it has). */
  onDone(cb: () => void): void {
    if (this.isDone) cb();
    else this.callbacks.push(cb);
  }

  /** Wait until in-flight accesses drain. Refused from inside the object's own access. */
  wait(): Promise<void> {
    if (this.isDone) return Promise.resolve();
    if (this.lifetime.enteredByCurrent()) {
      return Promise.reject(new SelfWaitError(`${this.env.tasks.current().name} waits for the removal of ${this.lifetime.name} from inside its own access`));
    }
    return this.env.tasks.waitUntil(`removal of ${this.lifetime.name} (${this.lifetime.inFlight} in flight)`, () => this.isDone);
  }

  /** @internal */
  complete(): void {
    this.isDone = true;
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

export class Lifetime {
  private st: LifetimeState = 'live';
  private count = 0;
  private readonly perTask = new Map<number, number>();
  private completion: RemovalCompletion | null = null;
  private reported = false;
  /** One task only (a realm's context): every access in flight is the caller's own. */
  private readonly single: boolean;

  constructor(
    private readonly env: SyncEnv,
    readonly name: string,
  ) {
    this.single = env.tasks.singleTask === true;
  }

  get state(): LifetimeState {
    return this.st;
  }

  get inFlight(): number {
    return this.count;
  }

  /** Begin an access; false when the object is being removed or gone (the access must not touch it). */
  tryEnter(): boolean {
    if (this.st !== 'live') return false;
    this.count++;
    if (this.single) return true;
    const id = this.env.tasks.current().id;
    this.perTask.set(id, (this.perTask.get(id) ?? 0) + 1);
    return true;
  }

  /** End an access begun by a successful tryEnter(). */
  exit(): void {
    if (this.single) {
      if (this.count === 0) throw new Error(`Lifetime ${this.name}: exit() without a matching tryEnter()`);
      if (--this.count === 0 && this.st === 'removing') this.finish();
      return;
    }
    const id = this.env.tasks.current().id;
    const n = this.perTask.get(id) ?? 0;
    if (n === 0 || this.count === 0) throw new Error(`Lifetime ${this.name}: exit() without a matching tryEnter() by ${this.env.tasks.current().name}`);
    if (n === 1) this.perTask.delete(id);
    else this.perTask.set(id, n - 1);
    if (--this.count === 0 && this.st === 'removing') this.finish();
  }

  /** Whether the current task is inside an access to this object. */
  enteredByCurrent(): boolean {
    if (this.single) return this.count > 0;
    return this.perTask.has(this.env.tasks.current().id);
  }

  /**
   * Stop new accesses and complete when in-flight ones drain. Idempotent:
   * a second call returns the same completion.
   */
  remove(): RemovalCompletion {
    if (this.completion) return this.completion;
    const c = new RemovalCompletion(this.env, this, this.enteredByCurrent());
    this.completion = c;
    this.st = 'removing';
    if (this.count === 0) this.finish();
    return c;
  }

  /**
   * Use-after-removal detector: call where code touches the object (a
   * handler's entry, a DMA write into its state). Returns whether it is live
   * or still draining; after removal completed, reports a hazard in debug mode.
   */
  check(site: string): boolean {
    if (this.st !== 'removed') return true;
    if (this.env.debug && !this.reported) {
      this.reported = true;
      this.env.hazards.report({ kind: 'use-after-removal', message: `use after removal: ${this.name} touched at ${site} by ${this.env.tasks.current().name} after its removal completed` });
    }
    return false;
  }

  private finish(): void {
    this.st = 'removed';
    this.env.points.at('removal', `${this.name} removed`);
    this.completion!.complete();
  }
}
