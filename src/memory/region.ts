/**
 * MemoryRegion: one node of the memory map (QEMU's MemoryRegion).
 *
 * Kinds: RAM (SharedArrayBuffer-backed), ROM (read-only RAM), ROM device
 * (reads hit RAM in romd mode, writes go to ops), I/O (ops), reservation
 * (I/O without ops: decodes like unassigned memory but shows in the map),
 * container (only subregions), alias (a window onto another region) and IOMMU
 * (translates, see iommu.ts).
 *
 * Every mutator is its own transaction unless called inside one (see
 * transaction.ts). Sizes and offsets are integers; addresses must stay below
 * 2^53 except that a region may have size exactly 2^64 (QEMU's "whole
 * address space" containers); anything at or above 2^53 is never rendered.
 */
import { MemoryError } from './errors.js';
import type { SyncEnv } from '../sync/env.js';
import type { IOMMUMemoryRegionOps } from './iommu.js';
import { LifetimeTracker, memorySyncEnv, registerOwnedRegion, type Completion } from './lifetime.js';
import type { DeviceOwner } from './owner.js';
import { beginTransaction, commitTransaction, markUpdatePending, markRomdFlip } from './transaction.js';
import type { MemTxAttrs, MemoryRegionOps } from './types.js';

export type RegionKind = 'ram' | 'rom' | 'romDevice' | 'io' | 'reservation' | 'container' | 'alias' | 'iommu';

/** Addresses at or above this decode as unassigned. */
export const PHYS_ADDR_LIMIT = 2 ** 53;
/** The largest region size (QEMU's UINT64_MAX-sized containers, rounded to 2^64). */
export const REGION_SIZE_MAX = 2 ** 64;

export interface RegionOptions {
  owner?: DeviceOwner;
  /** Env of the region's lifetime tracker (default: the owner's, else the realm's; see lifetime.ts). */
  syncEnv?: SyncEnv;
}

export interface RamOptions extends RegionOptions {
  /** Backing store (e.g. shared with worker threads); must hold at least `size` bytes. */
  buffer?: SharedArrayBuffer;
}

function checkSize(name: string, size: number): void {
  if (!Number.isInteger(size) || size <= 0 || (size > PHYS_ADDR_LIMIT && size !== REGION_SIZE_MAX)) {
    throw new MemoryError(
      `memory region '${name}': size ${size} must be a positive integer no larger than 2^53 (or exactly 2^64)`,
    );
  }
}

function checkOffset(what: string, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset >= PHYS_ADDR_LIMIT) {
    throw new MemoryError(`${what}: offset ${offset} must be an integer in [0, 2^53)`);
  }
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

const noAccepts = (_o: number, _s: number, _w: boolean, _a: MemTxAttrs): boolean => true;

export class MemoryRegion {
  readonly kind: RegionKind;
  readonly name: string;
  readonly owner: DeviceOwner | null;
  size: number;
  /** Offset within the parent (the container this region is a subregion of). */
  addr = 0;
  priority = 0;
  enabled = true;
  readonly = false;
  /** ROM devices: reads go straight to the backing store while true. */
  romd = false;
  parent: MemoryRegion | null = null;
  /** Children in QEMU's order: higher priority first; among equals, the most recently added first. */
  readonly subregions: MemoryRegion[] = [];
  readonly alias: MemoryRegion | null;
  aliasOffset = 0;
  readonly ops: MemoryRegionOps | null;
  readonly iommuOps: IOMMUMemoryRegionOps | null;
  /** Set by disableReentrancyGuard. */
  reentrancyGuardDisabledReason: string | null = null;
  /** In-flight accesses and DMA mappings; see destroy() and lifetime.ts. */
  readonly tracker: LifetimeTracker;
  private isDestroyed = false;

  /** Guest writes dropped because the target was ROM / read-only. */
  ignoredWrites = 0;
  /** Accesses refused by the owner's reentrancy guard. */
  reentrancyRefusals = 0;
  /** Whether a refusal has been logged (QEMU logs once per region). */
  reentrancyLogged = false;
  /**
   * Whether dispatch engages the owner's guard for accesses here: I/O regions
   * with an owner, unless opted out. QEMU exempts
   * RAM, ROM and ROM devices; so do we.
   */
  guarded: boolean;

  // Normalised access constraints, read by dispatch (monomorphic fields).
  readonly validMin: number;
  readonly validMax: number;
  readonly validUnaligned: boolean;
  readonly validAccepts: (offset: number, size: number, isWrite: boolean, attrs: MemTxAttrs) => boolean;
  readonly hasAccepts: boolean;
  /** ops.read / ops.write bound to ops (null when absent), so dispatch makes no megamorphic lookups. */
  readonly readFn: ((offset: number, size: number, attrs: MemTxAttrs) => number) | null;
  readonly writeFn: ((offset: number, value: number, size: number, attrs: MemTxAttrs) => void) | null;
  readonly readWithAttrsFn: ((offset: number, size: number, attrs: MemTxAttrs, out: Uint32Array) => number) | null;
  readonly writeWithAttrsFn: ((offset: number, value: number, size: number, attrs: MemTxAttrs, hi: number) => number) | null;
  readonly implMin: number;
  readonly implMax: number;
  readonly implUnaligned: boolean;
  readonly bigEndian: boolean;

  private readonly backing: SharedArrayBuffer | null;
  private bytesView: Uint8Array | null;

  private constructor(
    kind: RegionKind,
    name: string,
    size: number,
    opts: {
      owner?: DeviceOwner;
      syncEnv?: SyncEnv;
      ops?: MemoryRegionOps | null;
      iommuOps?: IOMMUMemoryRegionOps | null;
      alias?: MemoryRegion | null;
      backing?: SharedArrayBuffer | null;
    },
  ) {
    checkSize(name, size);
    this.kind = kind;
    this.name = name;
    this.size = size;
    this.owner = opts.owner ?? null;
    this.ops = opts.ops ?? null;
    this.iommuOps = opts.iommuOps ?? null;
    this.alias = opts.alias ?? null;
    this.backing = opts.backing ?? null;
    this.bytesView = this.backing ? new Uint8Array(this.backing, 0, size) : null;
    const owner = this.owner;
    const env = opts.syncEnv ?? owner?.syncEnv ?? null;
    this.tracker = new LifetimeTracker(env ? () => env : memorySyncEnv, `region '${name}'`);
    // Dispatch reads the tracker's counting mode inline: decide it now.
    this.tracker.resolve();
    if (owner) registerOwnedRegion(owner, this);

    this.guarded = this.owner !== null && (kind === 'io' || kind === 'iommu');
    const ops = this.ops;
    this.validMin = ops?.valid?.min ?? 1;
    this.validMax = ops?.valid?.max ?? 4;
    this.validUnaligned = ops?.valid?.unaligned ?? false;
    const accepts = ops?.valid?.accepts;
    this.hasAccepts = accepts !== undefined;
    this.validAccepts = accepts ? accepts.bind(ops!.valid) : noAccepts;
    this.readFn = ops?.read ? ops.read.bind(ops) : null;
    this.writeFn = ops?.write ? ops.write.bind(ops) : null;
    this.readWithAttrsFn = ops?.readWithAttrs ? ops.readWithAttrs.bind(ops) : null;
    this.writeWithAttrsFn = ops?.writeWithAttrs ? ops.writeWithAttrs.bind(ops) : null;
    this.implMin = ops?.impl?.min ?? 1;
    this.implMax = ops?.impl?.max ?? 4;
    this.implUnaligned = ops?.impl?.unaligned ?? false;
    this.bigEndian = ops?.endianness === 'big';
    if (ops) {
      const bad = (what: string): never => {
        throw new MemoryError(`memory region '${name}': ${what}`);
      };
      if (!isPow2(this.validMin) || !isPow2(this.validMax) || this.validMin > this.validMax || this.validMax > 8) {
        bad(`valid sizes ${this.validMin}..${this.validMax} must be powers of two with min <= max <= 8`);
      }
      if (!isPow2(this.implMin) || !isPow2(this.implMax) || this.implMin > this.implMax || this.implMax > 8) {
        bad(`impl sizes ${this.implMin}..${this.implMax} must be powers of two with min <= max <= 8`);
      }
      // read() returns one 32-bit number and write() takes one: 8-byte pieces go through the
      // *WithAttrs callbacks, which carry both halves.
      if (this.implMax === 8 && ((ops.read && !ops.readWithAttrs) || (ops.write && !ops.writeWithAttrs))) {
        bad('impl.max 8 needs readWithAttrs and writeWithAttrs (an 8-byte value as two halves) in place of read and write');
      }
    }
  }

  private static backingFor(name: string, size: number, buffer?: SharedArrayBuffer): SharedArrayBuffer {
    checkSize(name, size);
    if (buffer) {
      if (buffer.byteLength < size) {
        throw new MemoryError(`memory region '${name}': buffer of ${buffer.byteLength} bytes is smaller than ${size}`);
      }
      return buffer;
    }
    try {
      return new SharedArrayBuffer(size);
    } catch (e) {
      throw new MemoryError(`memory region '${name}': cannot allocate ${size} bytes: ${(e as Error).message}`);
    }
  }

  static ram(name: string, size: number, opts: RamOptions = {}): MemoryRegion {
    return new MemoryRegion('ram', name, size, { owner: opts.owner, syncEnv: opts.syncEnv, backing: MemoryRegion.backingFor(name, size, opts.buffer) });
  }

  /** Read-only RAM; guest writes are dropped and counted in ignoredWrites. */
  static rom(name: string, size: number, opts: RamOptions = {}): MemoryRegion {
    const mr = new MemoryRegion('rom', name, size, { owner: opts.owner, syncEnv: opts.syncEnv, backing: MemoryRegion.backingFor(name, size, opts.buffer) });
    mr.readonly = true;
    return mr;
  }

  /** ROM device: reads from the backing store in romd mode (the default), writes always go to ops. */
  static romDevice(name: string, size: number, ops: MemoryRegionOps, opts: RamOptions = {}): MemoryRegion {
    const mr = new MemoryRegion('romDevice', name, size, {
      owner: opts.owner,
      syncEnv: opts.syncEnv,
      ops,
      backing: MemoryRegion.backingFor(name, size, opts.buffer),
    });
    mr.romd = true;
    return mr;
  }

  static io(name: string, size: number, ops: MemoryRegionOps, opts: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion('io', name, size, { owner: opts.owner, syncEnv: opts.syncEnv, ops });
  }

  /** I/O region without ops: claims the range (it shows in the map) but decodes like unassigned memory. */
  static reservation(name: string, size: number, opts: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion('reservation', name, size, { owner: opts.owner, syncEnv: opts.syncEnv });
  }

  static container(name: string, size: number, opts: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion('container', name, size, { owner: opts.owner, syncEnv: opts.syncEnv });
  }

  static alias(name: string, target: MemoryRegion, offset: number, size: number, opts: RegionOptions = {}): MemoryRegion {
    checkOffset(`alias '${name}'`, offset);
    // Aliases of aliases are allowed (as in QEMU); no cycle can arise here
    // because nothing refers to the new alias yet (addSubregion checks later edges).
    const mr = new MemoryRegion('alias', name, size, { owner: opts.owner, syncEnv: opts.syncEnv, alias: target });
    mr.aliasOffset = offset;
    return mr;
  }

  static iommu(name: string, size: number, ops: IOMMUMemoryRegionOps, opts: RegionOptions = {}): MemoryRegion {
    return new MemoryRegion('iommu', name, size, { owner: opts.owner, syncEnv: opts.syncEnv, iommuOps: ops });
  }

  /** Whether the region renders itself into the flat view (QEMU's `terminates`). */
  get terminates(): boolean {
    return this.kind !== 'container' && this.kind !== 'alias';
  }

  /** The backing store of a RAM, ROM or ROM device region. */
  ramBytes(): Uint8Array {
    if (!this.bytesView) throw new MemoryError(`memory region '${this.name}' (${this.kind}) has no RAM backing`);
    return this.bytesView;
  }

  /** The SharedArrayBuffer behind ramBytes(). */
  ramBuffer(): SharedArrayBuffer {
    if (!this.backing) throw new MemoryError(`memory region '${this.name}' (${this.kind}) has no RAM backing`);
    return this.backing;
  }

  /** Opt out of the owner's reentrancy guard; the reason is kept for review and shown by mtree owners. */
  disableReentrancyGuard(reason: string): void {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new MemoryError(`memory region '${this.name}': disabling the reentrancy guard needs a reason`);
    }
    this.reentrancyGuardDisabledReason = reason;
    this.guarded = false;
  }


  private mutate(fn: () => void): void {
    beginTransaction();
    try {
      fn();
      markUpdatePending();
    } finally {
      commitTransaction();
    }
  }

  /** Whether `target` is reachable from this region through subregions and alias targets. */
  private reaches(target: MemoryRegion, seen: Set<MemoryRegion>): boolean {
    if (this === target) return true;
    if (seen.has(this)) return false;
    seen.add(this);
    if (this.alias && this.alias.reaches(target, seen)) return true;
    for (const c of this.subregions) if (c.reaches(target, seen)) return true;
    return false;
  }

  private insertChild(child: MemoryRegion): void {
    // QEMU's order: before the first sibling whose priority is <= the child's.
    const subs = this.subregions;
    let i = 0;
    while (i < subs.length && child.priority < subs[i]!.priority) i++;
    subs.splice(i, 0, child);
  }

  addSubregion(offset: number, child: MemoryRegion, priority = 0): void {
    checkOffset(`adding '${child.name}' to '${this.name}'`, offset);
    if (child.isDestroyed || this.isDestroyed) {
      throw new MemoryError(`adding '${child.name}' to '${this.name}': ${child.isDestroyed ? child.name : this.name} was destroyed`);
    }
    if (!Number.isInteger(priority)) {
      throw new MemoryError(`adding '${child.name}' to '${this.name}': priority ${priority} must be an integer`);
    }
    if (child.parent) {
      throw new MemoryError(`memory region '${child.name}' is already a subregion of '${child.parent.name}'`);
    }
    if (this.kind === 'alias') {
      throw new MemoryError(`memory region '${this.name}' is an alias and cannot have subregions`);
    }
    if (child.size === REGION_SIZE_MAX && offset !== 0) {
      throw new MemoryError(`adding '${child.name}' at ${offset} to '${this.name}': end overflows 2^64`);
    }
    if (child.reaches(this, new Set())) {
      throw new MemoryError(`adding '${child.name}' to '${this.name}' would create a cycle in the memory map`);
    }
    this.mutate(() => {
      child.addr = offset;
      child.priority = priority;
      child.parent = this;
      this.insertChild(child);
    });
  }

  /**
   * Like addSubregion at priority 0, but the caller asserts the child overlaps
   * no existing subregion (QEMU's non-overlapping memory_region_add_subregion):
   * an overlap throws MemoryError instead of being resolved by priority.
   */
  addSubregionNoOverlap(offset: number, child: MemoryRegion): void {
    checkOffset(`adding '${child.name}' to '${this.name}'`, offset);
    const end = offset + child.size;
    for (const s of this.subregions) {
      if (offset < s.addr + s.size && s.addr < end) {
        throw new MemoryError(
          `adding '${child.name}' at 0x${offset.toString(16)} to '${this.name}': overlaps '${s.name}' at 0x${s.addr.toString(16)}`,
        );
      }
    }
    this.addSubregion(offset, child, 0);
  }

  removeSubregion(child: MemoryRegion): void {
    if (child.parent !== this) {
      throw new MemoryError(`memory region '${child.name}' is not a subregion of '${this.name}'`);
    }
    this.mutate(() => {
      const i = this.subregions.indexOf(child);
      this.subregions.splice(i, 1);
      child.parent = null;
    });
  }

  /** Whether destroy() (or unrealize of its owner) was called. */
  get destroyed(): boolean {
    return this.isDestroyed;
  }

  /**
   * Remove the region for good (QEMU's object_unparent of a region): it is
   * taken out of its parent (one commit, unless inside a transaction), then
   * its lifetime stops new accesses and DMA mappings, which from then on
   * decode as unassigned (reads all-ones, MEMTX_DECODE_ERROR; aliases still
   * pointing at it decode the same way). The completion is done when every
   * access that had entered the region has returned and every DMA mapping
   * into it has been unmapped; free what the callbacks use in `onDone`.
   * Called from inside one of the region's own callbacks, it is `deferred`
   * and completes when that callback returns (never wait() on it there:
   * SelfWaitError). A destroyed region cannot be added again. Idempotent.
   * Subregions of a destroyed container are not destroyed (they have their
   * own owners); they just stop being mapped through it.
   */
  destroy(): Completion {
    const c = this.tracker.completion;
    if (c) return c;
    this.detachForDestroy();
    return this.tracker.remove();
  }

  /** @internal Mark destroyed and leave the parent (used by destroy() and unrealize()). */
  detachForDestroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    if (this.parent) this.parent.removeSubregion(this);
  }

  setEnabled(enabled: boolean): void {
    if (enabled === this.enabled) return;
    this.mutate(() => {
      this.enabled = enabled;
    });
  }

  /** Move within the parent; like QEMU this re-adds the region (it becomes the newest among equal priorities). */
  setAddress(offset: number): void {
    checkOffset(`moving '${this.name}'`, offset);
    if (offset === this.addr) return;
    if (this.size === REGION_SIZE_MAX && offset !== 0) {
      throw new MemoryError(`moving '${this.name}' to ${offset}: end overflows 2^64`);
    }
    this.mutate(() => {
      const p = this.parent;
      if (p) p.subregions.splice(p.subregions.indexOf(this), 1);
      this.addr = offset;
      if (p) p.insertChild(this);
    });
  }

  setSize(size: number): void {
    checkSize(this.name, size);
    if (this.backing && size > this.backing.byteLength) {
      throw new MemoryError(`memory region '${this.name}': size ${size} exceeds its ${this.backing.byteLength}-byte backing store`);
    }
    if (size === REGION_SIZE_MAX && this.addr !== 0) {
      throw new MemoryError(`memory region '${this.name}': size ${size} at ${this.addr} overflows 2^64`);
    }
    if (size === this.size) return;
    this.mutate(() => {
      this.size = size;
      if (this.backing) this.bytesView = new Uint8Array(this.backing, 0, size);
    });
  }

  setAliasOffset(offset: number): void {
    if (this.kind !== 'alias') throw new MemoryError(`memory region '${this.name}' is not an alias`);
    checkOffset(`alias '${this.name}'`, offset);
    if (offset === this.aliasOffset) return;
    this.mutate(() => {
      this.aliasOffset = offset;
    });
  }

  setReadonly(readonly: boolean): void {
    if (readonly === this.readonly) return;
    this.mutate(() => {
      this.readonly = readonly;
    });
  }

  setRomdMode(romd: boolean): void {
    if (this.kind !== 'romDevice') throw new MemoryError(`memory region '${this.name}' is not a ROM device`);
    if (romd === this.romd) return;
    beginTransaction();
    try {
      this.romd = romd;
      markRomdFlip(this);
    } finally {
      commitTransaction();
    }
  }

  /** QEMU's memory_region_type() as printed by `info mtree`. */
  typeName(): string {
    if (this.alias) return this.alias.typeName();
    if (this.kind === 'romDevice') return this.romd ? 'romd' : 'i/o';
    if (this.kind === 'ram' || this.kind === 'rom') return this.readonly ? 'rom' : 'ram';
    return 'i/o';
  }
}
