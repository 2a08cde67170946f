/**
 * A PCI bus: up to 256 functions, the PCI memory and I/O spaces their BARs
 * decode into, INTx routing, MSI delivery, and the PCI domain lock.
 *
 * Locking (Xen vPCI's discipline, the answer to seed 001):
 * - one reader-writer lock per PCI domain (`lock`), and one lock per function;
 * - config reads, and writes to registers that cannot change the memory map,
 *   take the domain lock for reading and then the function's lock;
 * - writes that may change the memory map or the routing (command, BARs,
 *   expansion ROM, a bridge's bus numbers and windows) take the domain lock
 *   for writing and no function lock at all: holding it
 *   for writing excludes every other config access, so the mapping code may
 *   read every function's BAR state without taking a second lock;
 * - adding and removing functions take the domain lock for writing.
 * No path ever holds two function locks, so the ABBA of seed 001 cannot be
 * written. The function is looked up only after the lock is held, and a
 * removed function answers all-ones and drops writes, so an access that was
 * already on its way when the function was removed never reaches its state.
 *
 * Lifetime: a config access enters the function's lifetime tracker
 * (ownerLifetime, src/memory/lifetime.ts) when it looks the function up and
 * exits when it is done; BAR accesses enter the BAR regions in dispatch; DMA
 * mappings through the function's DMA view hold it. unplug() takes the
 * function off the bus (one commit), then starts its removal: the
 * completion is done, and the function's state freed (finalizeRemoval), once
 * all of those drained.
 *
 * Mapping: each BAR (and ROM) that decodes is a subregion of the bus's memory
 * or I/O space, so the memory core composes overlapping BARs: a range stays
 * mapped while any decoding BAR covers it and goes away when none does. When
 * BARs on a bus overlap, the lower devfn wins, then the lower slot (BARs 0-5,
 * ROM 6, bridge windows 7-9). All changes made by one config write happen in
 * one memory transaction.
 */
import type { IrqLine } from '../irq.js';
import { memorySyncEnv, ownerLifetime, unrealize, type Completion } from '../../memory/lifetime.js';
import { MemoryRegion } from '../../memory/region.js';
import { memoryTransaction } from '../../memory/transaction.js';
import type { SyncEnv } from '../../sync/env.js';
import { Mutex } from '../../sync/mutex.js';
import { RwLock } from '../../sync/rwlock.js';
import { BAR_UNMAPPED, PciError, type BarKind } from './bar.js';
import { formatBdf, pciSlot } from './constants.js';
import { LAST_SLOT, ROM_SLOT, type PciBusPort, type PciDevice } from './device.js';

/** Where message-signalled interrupts go (an interrupt controller's MSI doorbell). */
export interface MsiSink {
  deliver(address: number, data: number, requesterId: number): void;
}

/** An MSI sink for machines without an MSI controller: counts and drops. */
export class DroppingMsiSink implements MsiSink {
  dropped = 0;
  deliver(): void {
    this.dropped++;
  }
}

/**
 * The domain lock as the bus uses it (src/sync's RwLock satisfies it; the
 * explorer may inject its own). The awaiting forms, when present, are used by
 * the *Async bus operations so that a schedule explorer can park a task at
 * the acquisition and run others meanwhile.
 */
export interface PciDomainLock {
  readSync(): void;
  unlockRead(): void;
  writeSync(): void;
  unlockWrite(): void;
  assertWriteHeld(): void;
  read?(): Promise<void>;
  write?(): Promise<void>;
}

/** A function's lock (src/sync's Mutex satisfies it). */
export interface PciFunctionLock {
  lockSync(): void;
  unlock(): void;
  lock?(): Promise<void>;
}

export interface PciBusOptions {
  readonly name?: string;
  /** Bus number: fixed (root bus: 0) or read from a bridge's secondary bus number register. */
  readonly number?: number | (() => number);
  /** PCI memory space: memory BARs and ROMs are subregions of it. */
  readonly memory: MemoryRegion;
  /** PCI I/O space (64 KiB). */
  readonly io: MemoryRegion;
  /** What bus-master DMA reaches (system memory, or an IOMMU region). */
  readonly dmaRoot: MemoryRegion;
  /**
   * Per-requester DMA root (QEMU's pci_setup_iommu): when given, a function
   * attached at devfn reaches what this returns for its requester id
   * (bus << 8 | devfn) instead of dmaRoot — the IOMMU's region for it.
   */
  readonly dmaRootFor?: (requesterId: number) => MemoryRegion;
  /** The bus's interrupt lines INTA..INTD after swizzling (the host's outputs). */
  readonly intx?: readonly IrqLine[];
  /** Which line a function's pin (0 = INTA) drives; default QEMU's swizzle (slot + pin) % 4. */
  readonly mapIrq?: (devfn: number, pin: number) => number;
  readonly msiSink?: MsiSink;
  /** The lock environment (validator, task context); a realm environment by default. */
  readonly syncEnv?: SyncEnv;
  /** Replace the domain lock (the schedule explorer injects an instrumented one). */
  readonly lock?: PciDomainLock;
  readonly functionLock?: (dev: PciDevice) => PciFunctionLock;
}

/** One decoded BAR or bridge window, as listed by PciBus.mappings(). */
export interface PciMapping {
  readonly dev: PciDevice;
  readonly slot: number;
  readonly kind: BarKind;
  readonly address: number;
  readonly size: number;
  readonly priority: number;
}

/**
 * Config offsets whose writes may change the memory map: command, the BARs
 * and (type 1) bus numbers and forwarding windows (0x10-0x33), and the ROM
 * BAR (0x30 in type 0, 0x38 in type 1).
 */
function touchesMapping(offset: number, size: number): boolean {
  const end = offset + size;
  return (offset < 0x06 && end > 0x04) || (offset < 0x34 && end > 0x10) || (offset < 0x3c && end > 0x38);
}

/**
 * Priority of a decoding slot among the subregions of one bus's space: lower
 * devfn wins, then lower slot (BARs 0-5, ROM 6, bridge windows 7-9).
 */
export function barPriority(devfn: number, slot: number): number {
  return 1 + 0xfff - ((devfn & 0xff) * 16 + slot);
}

function validAccess(devfn: number, size: number): boolean {
  return devfn >= 0 && devfn < 256 && Number.isInteger(devfn) && (size === 1 || size === 2 || size === 4);
}

function allOnes(size: number): number {
  return size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

function slotName(slot: number): string {
  if (slot === ROM_SLOT) return 'ROM';
  if (slot > ROM_SLOT) return ['I/O window', 'memory window', 'prefetchable window'][slot - ROM_SLOT - 1]!;
  return `BAR${slot}`;
}

export class PciBus implements PciBusPort {
  readonly name: string;
  readonly memory: MemoryRegion;
  readonly io: MemoryRegion;
  readonly dmaRoot: MemoryRegion;
  private readonly dmaRootFor: ((requesterId: number) => MemoryRegion) | null;
  /** The PCI domain's lock, shared by every bus of the domain. */
  readonly lock: PciDomainLock;
  readonly msiSink: MsiSink;
  /** Makes each function's lock (shared by every bus of the domain). */
  readonly functionLockFactory: (dev: PciDevice) => PciFunctionLock;
  /** The env of the domain's locks and of the functions' lifetime trackers. */
  readonly syncEnv: SyncEnv;
  /** Overlaps seen by the last mapping update (functions' BARs that share addresses with the updated one). */
  lastOverlaps: { readonly a: string; readonly b: string }[] = [];

  private readonly numberOf: () => number;
  private readonly fns: (PciDevice | null)[] = new Array<PciDevice | null>(256).fill(null);
  private readonly fnLocks = new Map<PciDevice, PciFunctionLock>();
  private readonly intx: readonly IrqLine[];
  private readonly intxCount = new Int32Array(4);
  private readonly mapIrq: (devfn: number, pin: number) => number;

  constructor(opts: PciBusOptions) {
    this.name = opts.name ?? 'pcie.0';
    const n = opts.number ?? 0;
    this.numberOf = typeof n === 'function' ? n : () => n;
    this.memory = opts.memory;
    this.io = opts.io;
    this.dmaRoot = opts.dmaRoot;
    this.dmaRootFor = opts.dmaRootFor ?? null;
    this.intx = opts.intx ?? [];
    this.mapIrq = opts.mapIrq ?? ((devfn, pin) => (pciSlot(devfn) + pin) % 4);
    this.msiSink = opts.msiSink ?? new DroppingMsiSink();
    const env = opts.syncEnv ?? memorySyncEnv();
    this.syncEnv = env;
    this.lock = opts.lock ?? new RwLock(env, 'pci-domain', { name: `${this.name}.domain` });
    this.functionLockFactory =
      opts.functionLock ?? ((dev) => new Mutex(env, 'pci-function', { name: `${dev.name}.lock`, orderKey: [dev.requesterId] }));
  }

  get number(): number {
    return this.numberOf();
  }

  // ---- config space -------------------------------------------------------

  /** Config read of `size` (1, 2 or 4) bytes on this bus; absent or removed functions read all-ones. */
  configRead(devfn: number, offset: number, size: number): number {
    if (!validAccess(devfn, size)) return allOnes(size);
    this.lock.readSync();
    try {
      return this.readLocked(devfn, offset, size);
    } finally {
      this.lock.unlockRead();
    }
  }

  /** Config write on this bus; absent or removed functions drop it. */
  configWrite(devfn: number, offset: number, size: number, value: number): void {
    if (!validAccess(devfn, size)) return;
    if (touchesMapping(offset, size)) {
      this.lock.writeSync();
      try {
        this.writeMapping(this.live(devfn), offset, size, value >>> 0);
      } finally {
        this.lock.unlockWrite();
      }
      return;
    }
    this.lock.readSync();
    try {
      this.writeLocked(devfn, offset, size, value >>> 0);
    } finally {
      this.lock.unlockRead();
    }
  }

  /**
   * Config read addressed by bus number (what ECAM decodes): routed through
   * the bridges whose secondary..subordinate range holds `busNo`. Buses no
   * bridge forwards to read all-ones.
   */
  configReadBdf(busNo: number, devfn: number, offset: number, size: number): number {
    if (!validAccess(devfn, size)) return allOnes(size);
    this.lock.readSync();
    try {
      const bus = this.route(busNo);
      return bus ? bus.readLocked(devfn, offset, size) : allOnes(size);
    } finally {
      this.lock.unlockRead();
    }
  }

  /** Config write addressed by bus number; see configReadBdf. */
  configWriteBdf(busNo: number, devfn: number, offset: number, size: number, value: number): void {
    if (!validAccess(devfn, size)) return;
    if (touchesMapping(offset, size)) {
      this.lock.writeSync();
      try {
        this.writeMapping(this.route(busNo)?.live(devfn) ?? null, offset, size, value >>> 0);
      } finally {
        this.lock.unlockWrite();
      }
      return;
    }
    this.lock.readSync();
    try {
      this.route(busNo)?.writeLocked(devfn, offset, size, value >>> 0);
    } finally {
      this.lock.unlockRead();
    }
  }

  /**
   * configRead with awaiting lock acquisitions (sync points under the schedule
   * explorer). Same semantics: the function is looked up only once the domain
   * lock is held.
   */
  async configReadAsync(devfn: number, offset: number, size: number): Promise<number> {
    if (!validAccess(devfn, size)) return allOnes(size);
    await this.readLock();
    try {
      const dev = this.enter(devfn);
      if (!dev) return allOnes(size);
      try {
        const l = this.fnLocks.get(dev)!;
        if (l.lock) await l.lock();
        else l.lockSync();
        try {
          return dev.configRead(offset, size);
        } finally {
          l.unlock();
        }
      } finally {
        ownerLifetime(dev).exit();
      }
    } finally {
      this.lock.unlockRead();
    }
  }

  /** configWrite with awaiting lock acquisitions. */
  async configWriteAsync(devfn: number, offset: number, size: number, value: number): Promise<void> {
    if (!validAccess(devfn, size)) return;
    value >>>= 0;
    if (touchesMapping(offset, size)) {
      await this.writeLock();
      try {
        this.writeMapping(this.live(devfn), offset, size, value);
      } finally {
        this.lock.unlockWrite();
      }
      return;
    }
    await this.readLock();
    try {
      const dev = this.enter(devfn);
      if (!dev) return;
      try {
        const l = this.fnLocks.get(dev)!;
        if (l.lock) await l.lock();
        else l.lockSync();
        try {
          dev.configWrite(offset, size, value);
        } finally {
          l.unlock();
        }
      } finally {
        ownerLifetime(dev).exit();
      }
    } finally {
      this.lock.unlockRead();
    }
  }

  /** The bus that config cycles for bus `busNo` reach from here (domain lock held). */
  private route(busNo: number): PciBus | null {
    if (!Number.isInteger(busNo) || busNo < 0 || busNo > 255) return null;
    if (busNo === this.number) return this;
    for (const dev of this.fns) {
      const sec = dev?.secondaryBus;
      if (!dev || dev.removed || !(sec instanceof PciBus)) continue;
      const first = dev.config.stored(0x19);
      const last = dev.config.stored(0x1a);
      if (first !== 0 && first <= busNo && busNo <= last) return sec.route(busNo);
    }
    return null;
  }

  private readLocked(devfn: number, offset: number, size: number): number {
    const dev = this.enter(devfn);
    if (!dev) return allOnes(size);
    try {
      const l = this.fnLocks.get(dev)!;
      l.lockSync();
      try {
        return dev.configRead(offset, size);
      } finally {
        l.unlock();
      }
    } finally {
      ownerLifetime(dev).exit();
    }
  }

  private writeLocked(devfn: number, offset: number, size: number, value: number): void {
    const dev = this.enter(devfn);
    if (!dev) return;
    try {
      const l = this.fnLocks.get(dev)!;
      l.lockSync();
      try {
        dev.configWrite(offset, size, value);
      } finally {
        l.unlock();
      }
    } finally {
      ownerLifetime(dev).exit();
    }
  }

  /** A map-changing config write (domain lock held for writing). */
  private writeMapping(dev: PciDevice | null, offset: number, size: number, value: number): void {
    if (!dev || !ownerLifetime(dev).tryEnter()) return;
    try {
      dev.configWrite(offset, size, value);
    } finally {
      ownerLifetime(dev).exit();
    }
  }

  private live(devfn: number): PciDevice | null {
    const dev = this.fns[devfn];
    return dev && !dev.removed ? dev : null;
  }

  /** Look the function up and enter its lifetime (domain lock held); null if absent or being removed. */
  private enter(devfn: number): PciDevice | null {
    const dev = this.live(devfn);
    return dev && ownerLifetime(dev).tryEnter() ? dev : null;
  }

  private readLock(): Promise<void> | void {
    return this.lock.read ? this.lock.read() : this.lock.readSync();
  }

  private writeLock(): Promise<void> | void {
    return this.lock.write ? this.lock.write() : this.lock.writeSync();
  }

  // ---- functions -------------------------------------------------------------

  device(devfn: number): PciDevice | null {
    return this.fns[devfn] ?? null;
  }

  devices(): PciDevice[] {
    return this.fns.filter((d): d is PciDevice => d !== null);
  }

  /**
   * Put `dev` on the bus at `devfn`, or at function 0 of the first free slot.
   * Returns the devfn. Throws PciError if the slot is taken.
   */
  addDevice(dev: PciDevice, devfn?: number): number {
    this.lock.writeSync();
    try {
      let at = devfn ?? -1;
      if (at === -1) {
        for (let d = 0; d < 256; d += 8) {
          if (!this.fns[d]) {
            at = d;
            break;
          }
        }
        if (at === -1) throw new PciError(`${this.name}: no free slot for ${dev.name}`);
      }
      if (!Number.isInteger(at) || at < 0 || at > 255) throw new PciError(`${this.name}: devfn ${at} out of range`);
      if (this.fns[at]) throw new PciError(`${this.name}: ${formatBdf(this.number, at)} is taken by ${this.fns[at]!.name}`);
      dev.attach(this, at, this.dmaRootFor ? this.dmaRootFor((this.number << 8) | at) : this.dmaRoot);
      this.fns[at] = dev;
      this.fnLocks.set(dev, this.functionLockFactory(dev));
      this.applyMappings(dev);
      return at;
    } finally {
      this.lock.unlockWrite();
    }
  }

  /**
   * Remove `dev` (and, for a bridge, everything behind it): in one memory
   * transaction its BARs are unmapped and its DMA is cut off; from then on its
   * config space reads all-ones. Returns false if it was not on this bus.
   */
  removeDevice(dev: PciDevice): boolean {
    return dev.removal === null && this.unplug(dev) !== null;
  }

  /** removeDevice with an awaiting acquisition of the domain lock. */
  async removeDeviceAsync(dev: PciDevice): Promise<boolean> {
    return dev.removal === null && (await this.unplugAsync(dev)) !== null;
  }

  /**
   * Hot-unplug `dev` (and everything behind it, for a bridge): in one memory
   * transaction its BARs are unmapped and its DMA cut off; from then on its
   * config space reads all-ones and its BARs decode as unassigned. Returns
   * the removal's completion (also `dev.removal`): done when every config
   * access, BAR access and DMA mapping that had reached the function (or a
   * function behind it) is over; the functions' state is freed then
   * (finalizeRemoval). Called from inside one of the function's own BAR
   * accesses it is `deferred`. Null if `dev` was not on this bus; the same
   * completion again if it is already being removed.
   */
  unplug(dev: PciDevice): Completion | null {
    if (dev.removal) return dev.removal;
    this.lock.writeSync();
    const gone: PciDevice[] = [];
    try {
      memoryTransaction(() => this.removeLocked(dev, gone));
    } finally {
      this.lock.unlockWrite();
    }
    return this.startRemoval(dev, gone);
  }

  /** unplug with an awaiting acquisition of the domain lock. */
  async unplugAsync(dev: PciDevice): Promise<Completion | null> {
    if (dev.removal) return dev.removal;
    await this.writeLock();
    const gone: PciDevice[] = [];
    try {
      memoryTransaction(() => this.removeLocked(dev, gone));
    } finally {
      this.lock.unlockWrite();
    }
    return this.startRemoval(dev, gone);
  }

  /** After the commit: stop each removed function's lifetime; free it once drained. */
  private startRemoval(dev: PciDevice, gone: PciDevice[]): Completion | null {
    // `gone` lists the functions behind a bridge before the bridge: the last one is `dev`.
    const behind: Completion[] = [];
    for (const d of gone) {
      // BAR regions built without an owner are the function's too.
      const regions = d.bars.filter((b): b is NonNullable<typeof b> => b !== null).map((b) => b.region);
      const c = unrealize(d, { regions, parts: d === dev ? behind : [] });
      d.removal = c;
      c.onDone(() => d.finalizeRemoval());
      if (d !== dev) behind.push(c);
    }
    return dev.removal;
  }

  private removeLocked(dev: PciDevice, gone: PciDevice[]): void {
    if (dev.devfn < 0 || this.fns[dev.devfn] !== dev) return;
    const sec = dev.secondaryBus;
    if (sec instanceof PciBus) for (const child of sec.devices()) sec.removeLocked(child, gone);
    this.fns[dev.devfn] = null;
    dev.detach();
    this.applyMappings(dev);
    this.fnLocks.delete(dev);
    gone.push(dev);
  }

  /** System reset: every function (behind bridges too) back to its reset state, all BARs unmapped, in one memory transaction. */
  reset(): void {
    this.lock.writeSync();
    try {
      memoryTransaction(() => this.resetLocked());
    } finally {
      this.lock.unlockWrite();
    }
  }

  private resetLocked(): void {
    for (const dev of this.fns) {
      if (!dev) continue;
      dev.resetFunction();
      this.applyMappings(dev);
      const sec = dev.secondaryBus;
      if (sec instanceof PciBus) sec.resetLocked();
    }
  }

  // ---- mapping ---------------------------------------------------------------

  /** PciBusPort: a function's command, BAR, ROM or window registers changed. Needs the domain lock held for writing. */
  updateMappings(dev: PciDevice): void {
    this.lock.assertWriteHeld();
    this.applyMappings(dev);
  }

  private spaceOf(kind: BarKind): MemoryRegion {
    return kind === 'io' ? this.io : this.memory;
  }

  private applyMappings(dev: PciDevice): void {
    memoryTransaction(() => {
      for (let slot = 0; slot <= LAST_SLOT; slot++) {
        const bar = dev.bars[slot];
        if (!bar) continue;
        const d = dev.decodeSlot(slot);
        const target = d ? d.address : BAR_UNMAPPED;
        if (target === bar.mappedAt && (!d || d.size === bar.size)) continue;
        const space = this.spaceOf(bar.kind);
        if (bar.mappedAt !== BAR_UNMAPPED) space.removeSubregion(bar.region);
        bar.mappedAt = BAR_UNMAPPED;
        if (d) {
          dev.prepareSlot(slot, d);
          bar.size = d.size;
          space.addSubregion(d.address, bar.region, barPriority(dev.devfn, slot));
          bar.mappedAt = d.address;
        }
      }
    });
    this.lastOverlaps = this.findOverlaps(dev);
  }

  /**
   * Other functions' decoded BARs that overlap `dev`'s (read under the domain
   * lock held for writing, without taking any function lock).
   */
  private findOverlaps(dev: PciDevice): { a: string; b: string }[] {
    const out: { a: string; b: string }[] = [];
    for (let s = 0; s <= LAST_SLOT; s++) {
      const mine = dev.bars[s];
      if (!mine || mine.mappedAt === BAR_UNMAPPED) continue;
      const mineIo = mine.kind === 'io';
      for (const other of this.fns) {
        if (!other || other === dev) continue;
        for (let t = 0; t <= LAST_SLOT; t++) {
          const theirs = other.bars[t];
          if (!theirs || theirs.mappedAt === BAR_UNMAPPED || (theirs.kind === 'io') !== mineIo) continue;
          if (mine.mappedAt < theirs.mappedAt + theirs.size && theirs.mappedAt < mine.mappedAt + mine.size) {
            out.push({ a: `${dev.bdf} ${slotName(s)}`, b: `${other.bdf} ${slotName(t)}` });
          }
        }
      }
    }
    return out;
  }

  /** Every decoded BAR and window on this bus, ordered by space and address. */
  mappings(): PciMapping[] {
    const out: PciMapping[] = [];
    for (const dev of this.fns) {
      if (!dev) continue;
      for (let slot = 0; slot <= LAST_SLOT; slot++) {
        const bar = dev.bars[slot];
        if (!bar || bar.mappedAt === BAR_UNMAPPED) continue;
        out.push({ dev, slot, kind: bar.kind, address: bar.mappedAt, size: bar.size, priority: barPriority(dev.devfn, slot) });
      }
    }
    return out.sort((x, y) => Number(x.kind === 'io') - Number(y.kind === 'io') || x.address - y.address);
  }

  // ---- interrupts --------------------------------------------------------------

  /** PciBusPort: a function's effective INTx level changed. */
  intxChanged(dev: PciDevice, level: boolean): void {
    const pin = (dev.info.interruptPin ?? 0) - 1;
    if (pin >= 0) this.pinChanged(dev.devfn, pin, level);
  }

  /** One source on pin `pin` (0 = INTA) of function `devfn` went up or down (bridges forward their secondary lines here). */
  pinChanged(devfn: number, pin: number, level: boolean): void {
    const line = this.mapIrq(devfn, pin) & 3;
    const before = this.intxCount[line]! > 0;
    this.intxCount[line] = this.intxCount[line]! + (level ? 1 : -1);
    const after = this.intxCount[line]! > 0;
    if (before !== after) this.intx[line]?.set(after);
  }

  /** Level of the bus's line `n` (0 = INTA after swizzling). */
  intxLevel(n: number): boolean {
    return (this.intxCount[n] ?? 0) > 0;
  }

  /** PciBusPort: deliver an MSI the function wrote (it has bus mastering on). */
  deliverMsi(dev: PciDevice, address: number, data: number): void {
    this.msiSink.deliver(address, data, dev.requesterId);
  }
}
