/**
 * Lifetimes of regions and of the devices that own them (QEMU's region and
 * owner reference counting, and the RCU grace period before an unplugged
 * device is finalized).
 *
 * Every region has a LifetimeTracker. Dispatch enters the region's Lifetime
 * (src/sync/lifetime.ts) in the same step as the flat-view lookup and exits it
 * when the callback returns; a DMA mapping into the region holds it (a
 * reference not bound to a task, since a mapping may be given back by another
 * task). `MemoryRegion.destroy()` unmaps the region (its own commit), then stops
 * new accesses and mappings and returns a Completion that is done when the last
 * access exits and the last mapping is unmapped. `unrealize(owner)` does the
 * same for every region of a device at once, and also waits for the device's
 * own accesses (e.g. PCI config cycles, which do not go through its regions)
 * and for DMA mappings the device made through an address space it owns.
 *
 * Realm state (module level, like the transaction depth): the default SyncEnv
 * for regions built without one, and the owner -> tracker map (a WeakMap, so a
 * dropped device takes its tracker with it).
 */
import { createRealmSyncEnv, type SyncEnv } from '../sync/env.js';
import { SelfWaitError } from '../sync/errors.js';
import { Lifetime } from '../sync/lifetime.js';
import type { DeviceOwner } from './owner.js';
import type { MemoryRegion } from './region.js';
import { memoryTransaction } from './transaction.js';

/** A removal in progress: done once everything it waits for drained. */
export interface Completion {
  readonly done: boolean;
  /** True when the removal was requested from inside an access to the object being removed. */
  readonly deferred: boolean;
  /** Run cb once the removal completes (at once if it has). Free the object's state here. */
  onDone(cb: () => void): void;
  /**
   * Resolve when the removal completes. Rejects with SelfWaitError when called
   * from inside an access to the object (that access is one of the things
   * being waited for). In the explorer the task parks; in real code it is an
   * ordinary promise (work in flight completes from the event loop).
   */
  wait(): Promise<void>;
}

let realmEnv: SyncEnv | null = null;

/** The SyncEnv of regions and owners built without one (created on first use: validator off, detector off). */
export function memorySyncEnv(): SyncEnv {
  if (realmEnv === null) realmEnv = createRealmSyncEnv({ debug: false });
  return realmEnv;
}

/**
 * Install the realm's env for regions and owners created from now on (the
 * machine does this with its `--debug-locks` env, so the use-after-removal
 * detector runs). Returns the previous one (null: the lazily made default).
 */
export function setMemorySyncEnv(env: SyncEnv | null): SyncEnv | null {
  const prev = realmEnv;
  realmEnv = env;
  return prev;
}

/**
 * A removal that waits for several things: Lifetimes (task-bound accesses),
 * other removals, and plain holds (DMA mappings).
 */
export class Removal implements Completion {
  private pending = 1;
  private isDone = false;
  private isDeferred = false;
  private readonly callbacks: (() => void)[] = [];
  private readonly trackers: LifetimeTracker[] = [];
  private readonly parts: Removal[] = [];

  constructor(
    private readonly env: SyncEnv,
    readonly name: string,
  ) {}

  get done(): boolean {
    return this.isDone;
  }

  get deferred(): boolean {
    return this.isDeferred;
  }

  onDone(cb: () => void): void {
    if (this.isDone) cb();
    else this.callbacks.push(cb);
  }

  wait(): Promise<void> {
    if (this.isDone) return Promise.resolve();
    if (this.enteredByCurrent()) {
      return Promise.reject(
        new SelfWaitError(`${this.env.tasks.current().name} waits for the removal of ${this.name} from inside its own access`),
      );
    }
    if (this.env.tasks.cooperative) return this.env.tasks.waitUntil(`removal of ${this.name}`, () => this.isDone);
    return new Promise<void>((resolve) => this.onDone(resolve));
  }

  /** Whether the running task is inside an access to something this removal waits for. */
  enteredByCurrent(): boolean {
    for (const t of this.trackers) if (t.enteredByCurrent()) return true;
    for (const p of this.parts) if (!p.isDone && p.enteredByCurrent()) return true;
    return false;
  }

  /** @internal Wait for the accesses of `t` (already closed to new ones). */
  addAccesses(t: LifetimeTracker, deferred: boolean): void {
    if (deferred) this.isDeferred = true;
    this.trackers.push(t);
  }

  /** @internal Stop `lt` and wait for its accesses. */
  addLifetime(lt: Lifetime): void {
    const c = lt.remove();
    if (c.deferred) this.isDeferred = true;
    if (!c.done) {
      this.pending++;
      c.onDone(() => this.release());
    }
  }

  /** @internal Wait for another removal too. */
  addPart(r: Completion): void {
    if (r.deferred) this.isDeferred = true;
    if (r instanceof Removal) this.parts.push(r);
    if (!r.done) {
      this.pending++;
      r.onDone(() => this.release());
    }
  }

  /** @internal One more thing to wait for; `release()` when it is over. */
  hold(): void {
    this.pending++;
  }

  /** @internal */
  release(): void {
    if (--this.pending !== 0) return;
    this.isDone = true;
    this.env.points.at('removal', `${this.name} drained`);
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

/**
 * In-flight accounting for one object: accesses (tryEnter/exit, task-bound)
 * and holds (hold/release, e.g. DMA mappings).
 *
 * In a realm's single-task context every access in flight belongs to the
 * running task, so accesses are a plain counter (`entered`, `open`: fields
 * dispatch reads inline, which keeps I/O dispatch within a few nanoseconds
 * of having no accounting at all). With several tasks (the explorer) they go
 * through a src/sync Lifetime (`taskLifetime`), which tracks them per task.
 */
export class LifetimeTracker {
  /** @internal Hot (dispatch): false once removal started. */
  open = true;
  /** @internal Hot (dispatch): accesses in flight when taskLifetime is null. */
  entered = 0;
  /** @internal The per-task Lifetime in a multi-task env; null in a single-task realm (resolve() first). */
  taskLifetime: Lifetime | null = null;
  private resolved = false;
  private refs = 0;
  private removal: Removal | null = null;
  private accessesPending = false;
  private reported = false;
  private envCache: SyncEnv | null = null;

  constructor(
    private readonly envOf: () => SyncEnv,
    readonly name: string,
  ) {}

  get env(): SyncEnv {
    if (this.envCache === null) this.envCache = this.envOf();
    return this.envCache;
  }

  /** @internal Pick the env (and with it the counting mode) now. Regions do it when built. */
  resolve(): void {
    if (this.resolved) return;
    this.resolved = true;
    const env = this.env;
    if (env.tasks.singleTask !== true) this.taskLifetime = new Lifetime(env, this.name);
  }

  /** Begin an access; false once removal started (the access must then behave as if the object were absent). */
  tryEnter(): boolean {
    if (!this.resolved) this.resolve();
    const lt = this.taskLifetime;
    if (lt !== null) return lt.tryEnter();
    if (!this.open) return false;
    this.entered++;
    return true;
  }

  /** End an access begun by a successful tryEnter(). */
  exit(): void {
    const lt = this.taskLifetime;
    if (lt !== null) {
      lt.exit();
      return;
    }
    if (this.entered === 0) throw new Error(`${this.name}: exit() without a matching tryEnter()`);
    if (--this.entered === 0 && !this.open) this.accessesDrained();
  }

  /** Accesses in flight. */
  get inFlight(): number {
    return this.taskLifetime !== null ? this.taskLifetime.inFlight : this.entered;
  }

  /** Whether the running task is inside an access. */
  enteredByCurrent(): boolean {
    return this.taskLifetime !== null ? this.taskLifetime.enteredByCurrent() : this.entered > 0;
  }

  /** @internal The last access exited after removal started (counter mode). */
  accessesDrained(): void {
    if (!this.accessesPending) return;
    this.accessesPending = false;
    this.removal!.release();
  }

  /** 'live'; 'removing' once remove() was called; 'removed' when it completed. */
  get state(): 'live' | 'removing' | 'removed' {
    const r = this.removal;
    return r === null ? 'live' : r.done ? 'removed' : 'removing';
  }

  /** DMA mappings (and other holds) outstanding. */
  get holds(): number {
    return this.refs;
  }

  /** The removal in progress or completed, or null. */
  get completion(): Completion | null {
    return this.removal;
  }

  /** Take a reference not bound to a task (a DMA mapping). False once removal started. */
  hold(): boolean {
    if (this.removal !== null) return false;
    this.refs++;
    return true;
  }

  /** Give back a reference taken with hold(). */
  release(): void {
    if (this.refs === 0) throw new Error(`${this.name}: release() without a matching hold()`);
    if (--this.refs === 0 && this.removal !== null) this.removal.release();
  }

  /** Stop new accesses and holds; done when in-flight accesses exit and holds are released. Idempotent. */
  remove(parts: readonly Completion[] = []): Removal {
    if (this.removal) return this.removal;
    this.resolve();
    const r = new Removal(this.env, this.name);
    this.removal = r;
    this.open = false;
    const lt = this.taskLifetime;
    if (lt !== null) {
      r.addLifetime(lt);
      r.addAccesses(this, false);
    } else {
      // Every access in flight is the running task's own: a removal now is deferred.
      r.addAccesses(this, this.entered > 0);
      if (this.entered > 0) {
        this.accessesPending = true;
        r.hold();
      }
    }
    if (this.refs > 0) r.hold();
    for (const p of parts) r.addPart(p);
    r.release();
    return r;
  }

  /**
   * Use-after-removal detector: call where code touches the object without
   * having entered it (a late timer, a stale reference). True while live or
   * draining; after removal completed, false, and in debug mode (always in
   * the explorer) a `use-after-removal` hazard is reported once.
   */
  check(site: string): boolean {
    const r = this.removal;
    if (r === null || !r.done) return true;
    if (!this.reported && this.env.debug) {
      this.reported = true;
      this.env.hazards.report({
        kind: 'use-after-removal',
        message: `use after removal: ${this.name} touched at ${site} by ${this.env.tasks.current().name} after its removal completed`,
      });
    }
    return false;
  }
}

/** A device's tracker: its own accesses and DMA mappings, plus every region it owns. */
export class OwnerLifetime extends LifetimeTracker {
  /** Regions built with this owner (in creation order). */
  readonly regions: MemoryRegion[] = [];
}

const owners = new WeakMap<DeviceOwner, OwnerLifetime>();

/**
 * The tracker of `owner`. Its env is `owner.syncEnv` (read when first needed,
 * so a device may get its env when it is plugged) or the realm's.
 */
export function ownerLifetime(owner: DeviceOwner): OwnerLifetime {
  let t = owners.get(owner);
  if (!t) {
    t = new OwnerLifetime(() => owner.syncEnv ?? memorySyncEnv(), `device '${owner.name}'`);
    owners.set(owner, t);
  }
  return t;
}

/** @internal Called by MemoryRegion's constructor. */
export function registerOwnedRegion(owner: DeviceOwner, mr: MemoryRegion): void {
  ownerLifetime(owner).regions.push(mr);
}

/**
 * Unrealize a device (QEMU's unparent + finalize, for the memory side): every
 * region it owns is unmapped in one commit and destroyed; from then on its
 * regions decode as unassigned, DMA mappings through or into it are refused,
 * and `ownerLifetime(owner).tryEnter()` fails. The completion is done when
 * every access to the device or its regions has exited and every DMA mapping
 * the device made, or made into its regions, has been unmapped. Free the
 * device's state in `onDone`. Idempotent.
 *
 * `more.regions`: regions of the device built without `owner` (destroyed
 * too); `more.parts`: other removals to wait for (e.g. the functions behind
 * a PCI bridge).
 */
export function unrealize(owner: DeviceOwner, more: { regions?: readonly MemoryRegion[]; parts?: readonly Completion[] } = {}): Completion {
  const t = ownerLifetime(owner);
  const existing = t.completion;
  if (existing) return existing;
  const regions = [...t.regions];
  for (const mr of more.regions ?? []) if (!regions.includes(mr)) regions.push(mr);
  memoryTransaction(() => {
    for (const mr of regions) mr.detachForDestroy();
  });
  return t.remove([...regions.map((mr) => mr.tracker.remove()), ...(more.parts ?? [])]);
}
