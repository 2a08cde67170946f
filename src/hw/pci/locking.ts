/**
 * How a PCI domain serialises config accesses against each other and against
 * topology changes: the bus's one config path (bus.ts) asks its `PciLocking`
 * to find the target function and run the access's body on it.
 *
 * The shipped policy (`DomainLocking`) is Xen vPCI's answer to seed 001:
 * - one reader-writer lock per PCI domain, and one lock per function;
 * - config reads, and writes to registers that cannot change the memory map,
 *   take the domain lock for reading and then the function's lock;
 * - writes that may change the memory map or the routing (command, BARs,
 *   expansion ROM, a bridge's bus numbers and windows) take the domain lock
 *   for writing and no function lock at all: holding it for writing excludes
 *   every other config access, so the mapping code may read every function's
 *   BAR state without taking a second lock;
 * - adding, removing and resetting functions take the domain lock for writing.
 * No path ever holds two function locks, so the ABBA of seed 001 cannot be
 * written. The function is looked up (bridge routing included) only once the
 * domain lock is held, and the access enters its lifetime tracker before its
 * body runs, so an unplug drains it and a removed function is never reached.
 *
 * Other policies exist only to be explored: the schedule explorer injects
 * the designs seed 001 discusses (src/explore/policies) to show they fail.
 */
import { ownerLifetime } from '../../memory/lifetime.js';
import type { SyncEnv } from '../../sync/env.js';
import { Mutex } from '../../sync/mutex.js';
import { RwLock } from '../../sync/rwlock.js';
import { exclusive, reading, writing, type Acquisition, type TaskOp } from '../../sync/task-op.js';
import type { PciDevice } from './device.js';

/** What a config access does: read, write a plain register, or write one that may change the memory map or routing. */
export type PciConfigKind = 'read' | 'write' | 'map';

export interface PciLocking {
  /**
   * One config access: `find` names the target function (routing through
   * bridges; null when nothing answers), `body` does the access on it (or
   * answers for an absent function when given null).
   */
  access<T>(find: () => PciDevice | null, kind: PciConfigKind, body: (dev: PciDevice | null) => T): TaskOp<T>;
  /** A topology change (add, unplug, reset): `body` runs excluded from every config access. */
  topology<T>(body: () => T): TaskOp<T>;
  /** A function joined / left one of the domain's buses. */
  attached(dev: PciDevice): void;
  detached(dev: PciDevice): void;
  /** Throws unless the running code may change the domain's memory map (PciBus.updateMappings). */
  assertMapping(): void;
}

/** The domain lock as DomainLocking uses it (src/sync's RwLock). */
export interface PciDomainLock {
  readSync(): void;
  read(): Promise<void>;
  unlockRead(): void;
  writeSync(): void;
  write(): Promise<void>;
  unlockWrite(): void;
  assertWriteHeld(): void;
}

/** A function's lock (src/sync's Mutex). */
export interface PciFunctionLock {
  lockSync(): void;
  lock(): Promise<void>;
  unlock(): void;
}

export interface DomainLockingOptions {
  /** Name for the locks (reports). */
  readonly name?: string;
  /** Replace the domain lock (tests inject one that races). */
  readonly lock?: PciDomainLock;
  readonly functionLock?: (dev: PciDevice) => PciFunctionLock;
}

export class DomainLocking implements PciLocking {
  readonly lock: PciDomainLock;
  readonly functionLockFactory: (dev: PciDevice) => PciFunctionLock;
  private readonly readAcq: Acquisition;
  private readonly writeAcq: Acquisition;
  private readonly fnLocks = new Map<PciDevice, { readonly lock: PciFunctionLock; readonly acq: Acquisition }>();

  constructor(env: SyncEnv, opts: DomainLockingOptions = {}) {
    this.lock = opts.lock ?? new RwLock(env, 'pci-domain', { name: `${opts.name ?? 'pci'}.domain` });
    this.functionLockFactory =
      opts.functionLock ?? ((dev) => new Mutex(env, 'pci-function', { name: `${dev.name}.lock`, orderKey: [dev.requesterId] }));
    this.readAcq = reading(this.lock);
    this.writeAcq = writing(this.lock);
  }

  *access<T>(find: () => PciDevice | null, kind: PciConfigKind, body: (dev: PciDevice | null) => T): TaskOp<T> {
    if (kind === 'map') {
      yield this.writeAcq;
      try {
        return this.entered(find(), body);
      } finally {
        this.lock.unlockWrite();
      }
    }
    yield this.readAcq;
    try {
      const dev = find();
      if (!dev || !ownerLifetime(dev).tryEnter()) return body(null);
      try {
        const fl = this.fnLocks.get(dev)!;
        yield fl.acq;
        try {
          return body(dev);
        } finally {
          fl.lock.unlock();
        }
      } finally {
        ownerLifetime(dev).exit();
      }
    } finally {
      this.lock.unlockRead();
    }
  }

  *topology<T>(body: () => T): TaskOp<T> {
    yield this.writeAcq;
    try {
      return body();
    } finally {
      this.lock.unlockWrite();
    }
  }

  attached(dev: PciDevice): void {
    const lock = this.functionLockFactory(dev);
    this.fnLocks.set(dev, { lock, acq: exclusive(lock) });
  }

  detached(dev: PciDevice): void {
    this.fnLocks.delete(dev);
  }

  assertMapping(): void {
    this.lock.assertWriteHeld();
  }

  /** The function's lock (for tests and reports). */
  functionLock(dev: PciDevice): PciFunctionLock | undefined {
    return this.fnLocks.get(dev)?.lock;
  }

  private entered<T>(dev: PciDevice | null, body: (dev: PciDevice | null) => T): T {
    if (!dev || !ownerLifetime(dev).tryEnter()) return body(null);
    try {
      return body(dev);
    } finally {
      ownerLifetime(dev).exit();
    }
  }
}
