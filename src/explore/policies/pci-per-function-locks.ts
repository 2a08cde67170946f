/**
 * Seed 001's naive design as a PciLocking the explorer injects into the real
 * PCI bus (src/hw/pci/bus.ts): Xen vPCI before the per-domain rwlock.
 *
 * - Each function has its own lock; there is no domain lock. A config access
 *   looks its function up first (bridge routing included) and then takes that
 *   function's lock, with no in-flight accounting: hot-unplug (which takes
 *   only Xen's pcidevs lock) can remove and free the function in between, and
 *   the access then reaches a freed function.
 * - `nestInModifyBars` adds the v6 patch's fix for the mapping check: a write
 *   that may change the map also takes every other function's lock in turn
 *   (lock, read its BARs, unlock; tmp != pdev) while holding its own. Two
 *   vCPUs writing two functions take them in opposite orders: the ABBA Jan
 *   Beulich points out. All vpci locks are one class, as in Xen; Xen has no
 *   lock validator, and in a world with one the nested acquisition needs a
 *   same-class nesting annotation (subclass 1, Linux's spin_lock_nested), which
 *   is exactly what hides the ABBA from the validator: a single schedule shows
 *   only vpci.dev -> vpci.dev/1, and only two vCPUs interleaved deadlock.
 *
 * Lives in src/explore: the shipped bus knows nothing of it.
 */
import type { PciDevice } from '../../hw/pci/device.js';
import type { PciConfigKind, PciLocking } from '../../hw/pci/locking.js';
import type { SyncEnv } from '../../sync/env.js';
import { Mutex } from '../../sync/mutex.js';
import { exclusive, type Acquisition, type TaskOp } from '../../sync/task-op.js';
import { notePolicy } from './registry.js';

interface FnLock {
  readonly lock: Mutex;
  readonly acq: Acquisition;
  /** The same lock taken nested under another function's (annotated subclass 1). */
  readonly nested: Acquisition;
}

export class PerFunctionLocking implements PciLocking {
  private readonly pcidevs: Mutex;
  private readonly pcidevsAcq: Acquisition;
  /** Never forgotten: a stale reference still finds its lock (Xen's lock lived in the pdev). */
  private readonly locks = new WeakMap<PciDevice, FnLock>();
  private readonly fns: PciDevice[] = [];

  constructor(
    private readonly env: SyncEnv,
    private readonly opts: { readonly nestInModifyBars: boolean },
  ) {
    notePolicy();
    this.pcidevs = new Mutex(env, 'pcidevs', { name: 'pcidevs_lock' });
    this.pcidevsAcq = exclusive(this.pcidevs);
  }

  *access<T>(find: () => PciDevice | null, kind: PciConfigKind, body: (dev: PciDevice | null) => T): TaskOp<T> {
    const dev = find();
    if (!dev) return body(null);
    const own = this.lockOf(dev);
    yield own.acq;
    try {
      if (kind === 'map' && this.opts.nestInModifyBars) {
        for (const tmp of this.fns.slice()) {
          if (tmp === dev) continue;
          const l = this.lockOf(tmp);
          yield l.nested;
          // modify_bars reads tmp's BARs here, then lets go.
          l.lock.unlock();
        }
      }
      return body(dev);
    } finally {
      own.lock.unlock();
    }
  }

  *topology<T>(body: () => T): TaskOp<T> {
    yield this.pcidevsAcq;
    try {
      return body();
    } finally {
      this.pcidevs.unlock();
    }
  }

  attached(dev: PciDevice): void {
    this.fns.push(dev);
    this.lockOf(dev);
  }

  detached(dev: PciDevice): void {
    const i = this.fns.indexOf(dev);
    if (i >= 0) this.fns.splice(i, 1);
  }

  /** Xen's modify_bars ran under the written function's lock only. */
  assertMapping(): void {}

  private lockOf(dev: PciDevice): FnLock {
    let l = this.locks.get(dev);
    if (!l) {
      const lock = new Mutex(this.env, 'vpci.dev', { name: `${dev.name}.vpci_lock` });
      l = { lock, acq: exclusive(lock), nested: { now: () => lock.lockSync({ subclass: 1 }), wait: () => lock.lock({ subclass: 1 }) } };
      this.locks.set(dev, l);
    }
    return l;
  }
}
