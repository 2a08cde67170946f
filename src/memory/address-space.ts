/**
 * AddressSpace: a root region seen through its current FlatView, plus the
 * access API (QEMU's AddressSpace and address_space_* functions).
 *
 * Realm state (module level, as QEMU's is global): the list of live address
 * spaces re-rendered on each outermost commit, and the publication counter.
 *
 * Every access uses the view that was current when it started, even if a
 * device callback changes the map half-way (the new view is published for
 * the accesses that follow), the way QEMU's RCU-held flat views behave.
 */
import { hostLog } from '../host/log.js';
import { dispatchRead, dispatchWrite, bufferAccessSize, dispatchDepth } from './dispatch.js';
import { MemoryError } from './errors.js';
import {
  FlatRange,
  FlatView,
  effectiveRoot,
  RANGE_IO,
  RANGE_IOMMU,
  RANGE_RAM,
  RANGE_RESERVED,
  RANGE_ROM,
  RANGE_ROMD,
} from './flatview.js';
import { IOMMU_RO, IOMMU_WO } from './iommu.js';
import type { MemoryListener, MemoryRegionSection } from './listener.js';
import type { DeviceOwner } from './owner.js';
import { RamFastPath } from './ram-path.js';
import { MemoryRegion, PHYS_ADDR_LIMIT } from './region.js';
import { setTopologyUpdater } from './transaction.js';
import {
  MEMTX_ACCESS_ERROR,
  MEMTX_DECODE_ERROR,
  MEMTX_OK,
  MEMTXATTRS_UNSPECIFIED,
  type MemTxAttrs,
  type MemTxResult,
} from './types.js';

export interface AddressSpaceOptions {
  /** Where guest-error messages go (reentrancy refusals). Default: stderr. */
  log?: (message: string) => void;
  /**
   * The device whose DMA view this is (a PCI function's bus-master space):
   * DMA mappings made through it hold the device alive (see lifetime.ts).
   */
  owner?: DeviceOwner;
}

const spaces: AddressSpace[] = [];
let publishedEpoch = 0;
const accessScratch: Uint8Array[] = [];

function scratch(): Uint8Array {
  const d = dispatchDepth();
  let s = accessScratch[d];
  if (!s) {
    s = new Uint8Array(8);
    accessScratch[d] = s;
  }
  return s;
}

/** Nesting of IOMMU translations (realm state); deeper chains fail with ACCESS_ERROR. */
let iommuDepth = 0;
const MAX_IOMMU_DEPTH = 8;

const defaultLog = (m: string): void => {
  hostLog(m);
};

function makeSection(as: AddressSpace, fr: FlatRange): MemoryRegionSection {
  return Object.freeze({
    addressSpace: as,
    mr: fr.mr,
    offsetWithinAddressSpace: fr.start,
    offsetWithinRegion: fr.offsetInRegion,
    size: fr.size,
    readonly: fr.readonly,
    romd: fr.romd,
  });
}

function isAddr(addr: number): boolean {
  return addr >= 0 && addr < PHYS_ADDR_LIMIT && Math.floor(addr) === addr;
}

/** The view an address space over `root` starts with: one already published for the same root, or a fresh rendering. */
function initialView(root: MemoryRegion): FlatView {
  const eroot = effectiveRoot(root);
  for (const other of spaces) {
    const v = other.flatView();
    if (v.root === eroot && effectiveRoot(other.root) === eroot) return v;
  }
  return FlatView.render(eroot, ++publishedEpoch);
}

/**
 * Loads and stores take the memory core's RAM fast path (ram-path.ts, shared
 * with the other realms' accessors); this class adds a one-range I/O cache and
 * dispatch for everything else.
 */
export class AddressSpace extends RamFastPath<FlatView> {
  readonly name: string;
  readonly root: MemoryRegion;
  /** The device whose DMA view this is, if any (AddressSpaceOptions.owner). */
  readonly owner: DeviceOwner | null;
  /** Changes (increases) whenever this address space's view is replaced. */
  epoch: number;
  /** Guest accesses that hit no region at all. */
  unassignedAccesses = 0;
  // The I/O range of the last dispatched access (reads and writes both). Reset with the view.
  // NaN: none (no address is in it). Doubles from the start, as device addresses and sizes
  // exceed V8's small integers: a field changing representation later changes this object's
  // map and deoptimises every optimised caller.
  private ioStart = NaN;
  private ioLen = NaN;
  private ioMr: MemoryRegion | null = null;
  private ioOffset = NaN;
  private listeners: MemoryListener[] = [];
  private readonly logFn: (message: string) => void;
  private destroyed = false;

  constructor(root: MemoryRegion, name: string, opts: AddressSpaceOptions = {}) {
    super(initialView(root));
    this.root = root;
    this.name = name;
    this.logFn = opts.log ?? defaultLog;
    this.owner = opts.owner ?? null;
    this.epoch = publishedEpoch;
    spaces.push(this);
  }

  log(message: string): void {
    this.logFn(message);
  }

  /** The current view: an immutable snapshot. */
  flatView(): FlatView {
    return this.view;
  }

  // ---------------------------------------------------------------- listeners

  addListener(l: MemoryListener): void {
    if (this.listeners.includes(l)) throw new MemoryError(`listener already registered on address space '${this.name}'`);
    const p = l.priority ?? 0;
    let i = this.listeners.length;
    while (i > 0 && (this.listeners[i - 1]!.priority ?? 0) > p) i--;
    this.listeners.splice(i, 0, l);
    l.begin?.();
    for (const fr of this.view.ranges) l.regionAdd?.(makeSection(this, fr));
    l.commit?.();
  }

  removeListener(l: MemoryListener): void {
    const i = this.listeners.indexOf(l);
    if (i < 0) throw new MemoryError(`listener not registered on address space '${this.name}'`);
    this.listeners.splice(i, 1);
    l.begin?.();
    for (const fr of this.view.ranges) l.regionDel?.(makeSection(this, fr));
    l.commit?.();
  }

  /** Unregister; listeners are told every range went away. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const i = spaces.indexOf(this);
    if (i >= 0) spaces.splice(i, 1);
    for (const l of [...this.listeners].reverse()) this.removeListener(l);
    this.epoch = ++publishedEpoch;
    this.replaceView(FlatView.render(null, publishedEpoch));
  }

  /** QEMU's address_space_update_topology_pass. */
  private topologyPass(old: FlatView, next: FlatView, adding: boolean): void {
    const a = old.ranges;
    const b = next.ranges;
    const ls = this.listeners;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const fo = i < a.length ? a[i]! : null;
      const fn = j < b.length ? b[j]! : null;
      if (fo && (!fn || fo.start < fn.start || (fo.start === fn.start && !fo.equals(fn)))) {
        if (!adding) {
          const s = makeSection(this, fo);
          for (let k = ls.length - 1; k >= 0; k--) ls[k]!.regionDel?.(s);
        }
        i++;
      } else if (fo && fn && fo.equals(fn)) {
        if (adding) {
          const s = makeSection(this, fn);
          for (const l of ls) l.regionNop?.(s);
        }
        i++;
        j++;
      } else {
        if (adding) {
          const s = makeSection(this, fn!);
          for (const l of ls) l.regionAdd?.(s);
        }
        j++;
      }
    }
  }

  private replaceView(next: FlatView): void {
    this.setView(next);
    this.ioStart = NaN;
    this.ioLen = NaN;
    this.ioMr = null;
    this.ioOffset = NaN;
  }

  private publish(next: FlatView, epoch: number): void {
    const old = this.view;
    if (this.listeners.length) {
      this.topologyPass(old, next, false);
      this.topologyPass(old, next, true);
    }
    this.epoch = epoch;
    this.replaceView(next);
  }

  /** Re-render every address space (the outermost commit). */
  static updateTopology(romdOnly: ReadonlySet<MemoryRegion> | null = null): void {
    const epoch = publishedEpoch + 1;
    const groups = new Map<MemoryRegion | null, AddressSpace[]>();
    for (const as of spaces) {
      const r = effectiveRoot(as.root);
      const g = groups.get(r);
      if (g) g.push(as);
      else groups.set(r, [as]);
    }
    const changes: Array<[AddressSpace, FlatView]> = [];
    for (const [root, group] of groups) {
      const current = group[0]!.view;
      const fresh = romdOnly && current.root === root ? current.withRomd(romdOnly, epoch) : FlatView.render(root, epoch);
      let canonical = fresh;
      for (const as of group) {
        if (as.view.root === root && as.view.sameRanges(fresh)) {
          canonical = as.view;
          break;
        }
      }
      for (const as of group) if (as.view !== canonical) changes.push([as, canonical]);
    }
    if (changes.length === 0) return;
    publishedEpoch = epoch;
    const all = spaces.flatMap((s) => s.listeners);
    for (const l of all) l.begin?.();
    for (const [as, v] of changes) as.publish(v, epoch);
    for (const l of all) l.commit?.();
  }

  // ---------------------------------------------------------------- fast path

  protected override loadMiss(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    const io = addr - this.ioStart;
    if (io >= 0 && io + size <= this.ioLen && !attrs.memoryOnly && (size === 4 || size === 1 || size === 2 || size === 8)) {
      return dispatchRead(this, this.ioMr!, io + this.ioOffset, size, attrs);
    }
    return this.loadLookup(addr, size, attrs);
  }

  protected override storeMiss(addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const io = addr - this.ioStart;
    if (io >= 0 && io + size <= this.ioLen && !attrs.memoryOnly && (size === 4 || size === 1 || size === 2 || size === 8)) {
      return dispatchWrite(this, this.ioMr!, io + this.ioOffset, size, lo, hi, attrs);
    }
    return this.storeLookup(addr, size, lo, hi, attrs);
  }

  protected loadOther(i: number, addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    const view = this.view;
    if (i >= 0 && addr + size <= view.ends[i]! && Math.floor(addr) === addr) {
      const fr = view.ranges[i]!;
      if (fr.kind === RANGE_IO && !attrs.memoryOnly && (size === 4 || size === 1 || size === 2 || size === 8)) {
        this.cacheIo(fr);
        return dispatchRead(this, fr.mr, addr - fr.start + fr.offsetInRegion, size, attrs);
      }
    }
    return this.loadSlow(view, addr, size, attrs);
  }

  protected storeOther(i: number, addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const view = this.view;
    if (i >= 0 && addr + size <= view.ends[i]! && Math.floor(addr) === addr) {
      const fr = view.ranges[i]!;
      const k = fr.kind;
      if ((k === RANGE_IO || k === RANGE_ROMD) && !attrs.memoryOnly && (size === 4 || size === 1 || size === 2 || size === 8)) {
        this.cacheIo(fr);
        return dispatchWrite(this, fr.mr, addr - fr.start + fr.offsetInRegion, size, lo, hi, attrs);
      }
    }
    return this.storeSlow(view, addr, size, lo, hi, attrs);
  }

  /** Remember an I/O range (reads and writes both dispatch to its ops). */
  private cacheIo(fr: FlatRange): void {
    if (fr.kind !== RANGE_IO) return;
    this.ioStart = fr.start;
    this.ioLen = fr.size;
    this.ioMr = fr.mr;
    this.ioOffset = fr.offsetInRegion;
  }

  private loadSlow(view: FlatView, addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
      this.valLo = 0xffffffff;
      this.valHi = 0xffffffff;
      return MEMTX_DECODE_ERROR;
    }
    const i = isAddr(addr) ? view.findIndex(addr) : -1;
    if (i >= 0 && addr + size <= view.ends[i]!) {
      // Within one range: I/O under memoryOnly, reservation, IOMMU.
      const fr = view.ranges[i]!;
      if (fr.kind === RANGE_IO && !attrs.memoryOnly) {
        return dispatchRead(this, fr.mr, addr - fr.start + fr.offsetInRegion, size, attrs);
      }
    }
    const buf = scratch();
    const r = this.rwView(view, addr, buf, 0, size, false, attrs);
    let lo = 0;
    const nlo = size < 4 ? size : 4;
    for (let k = nlo - 1; k >= 0; k--) lo = (lo << 8) | buf[k]!;
    let hi = 0;
    if (size === 8) for (let k = 7; k >= 4; k--) hi = (hi << 8) | buf[k]!;
    this.valLo = lo >>> 0;
    this.valHi = hi >>> 0;
    return r;
  }

  private storeSlow(view: FlatView, addr: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return MEMTX_DECODE_ERROR;
    const i = isAddr(addr) ? view.findIndex(addr) : -1;
    if (i >= 0 && addr + size <= view.ends[i]!) {
      const fr = view.ranges[i]!;
      if ((fr.kind === RANGE_IO || fr.kind === RANGE_ROMD) && !attrs.memoryOnly) {
        return dispatchWrite(this, fr.mr, addr - fr.start + fr.offsetInRegion, size, lo, hi, attrs);
      }
    }
    const buf = scratch();
    for (let k = 0; k < size; k++) buf[k] = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
    return this.rwView(view, addr, buf, 0, size, true, attrs);
  }

  // ---------------------------------------------------------------- buffers

  /** Read buf.length bytes at addr, across RAM, I/O and unassigned ranges. Failed bytes read as 0xff. */
  read(addr: number, buf: Uint8Array, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.rwView(this.view, addr, buf, 0, buf.length, false, attrs);
  }

  /** Write buf at addr, across RAM, I/O and unassigned ranges. */
  write(addr: number, buf: Uint8Array, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.rwView(this.view, addr, buf, 0, buf.length, true, attrs);
  }

  /** read or write part of a buffer (for DMA helpers). */
  rw(addr: number, buf: Uint8Array, off: number, len: number, isWrite: boolean, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
      throw new MemoryError(`AddressSpace '${this.name}': buffer slice [${off}, ${off}+${len}) outside a ${buf.length}-byte buffer`);
    }
    return this.rwView(this.view, addr, buf, off, len, isWrite, attrs);
  }

  private rwView(view: FlatView, addr: number, buf: Uint8Array, off: number, len: number, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    let r = MEMTX_OK;
    while (len > 0) {
      if (!isAddr(addr)) {
        if (!isWrite) buf.fill(0xff, off, off + len);
        this.unassignedAccesses++;
        return r | MEMTX_DECODE_ERROR;
      }
      const i = view.findIndex(addr);
      let n: number;
      if (i < 0) {
        // Unassigned up to the next range (or the end of the address space).
        n = Math.min(len, Math.min(view.nextStart(addr), PHYS_ADDR_LIMIT) - addr);
        if (!isWrite) buf.fill(0xff, off, off + n);
        this.unassignedAccesses++;
        r |= MEMTX_DECODE_ERROR;
      } else {
        const fr = view.ranges[i]!;
        n = Math.min(len, fr.end - addr);
        r |= this.rwRange(fr, addr, buf, off, n, isWrite, attrs);
      }
      addr += n;
      off += n;
      len -= n;
    }
    return r;
  }

  private rwRange(fr: FlatRange, addr: number, buf: Uint8Array, off: number, n: number, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    const k = fr.kind;
    const o = addr - fr.start;
    if (k === RANGE_RAM || (!isWrite && (k === RANGE_ROM || k === RANGE_ROMD))) {
      const bytes = fr.bytes!;
      if (n <= 32) {
        // Small copies (descriptors, headers): a loop beats allocating a subarray.
        if (isWrite) for (let b = 0; b < n; b++) bytes[o + b] = buf[off + b]!;
        else for (let b = 0; b < n; b++) buf[off + b] = bytes[o + b]!;
      } else if (isWrite) bytes.set(n === buf.length ? buf : buf.subarray(off, off + n), o);
      else buf.set(bytes.subarray(o, o + n), off);
      return MEMTX_OK;
    }
    if (k === RANGE_ROM) {
      fr.mr.ignoredWrites++;
      return MEMTX_OK;
    }
    if (attrs.memoryOnly && k !== RANGE_RESERVED) {
      if (!isWrite) buf.fill(0xff, off, off + n);
      return MEMTX_ACCESS_ERROR;
    }
    if (k === RANGE_RESERVED) {
      if (!isWrite) buf.fill(0xff, off, off + n);
      this.unassignedAccesses++;
      return MEMTX_DECODE_ERROR;
    }
    if (k === RANGE_IOMMU) return this.rwIommu(fr, addr, buf, off, n, isWrite, attrs);
    // I/O (or a ROM device's write side): pieces as large as the device allows.
    const mr = fr.mr;
    let regOff = o + fr.offsetInRegion;
    let r = MEMTX_OK;
    while (n > 0) {
      const l = bufferAccessSize(mr, regOff, n);
      if (isWrite) {
        let lo = 0;
        let hi = 0;
        for (let b = Math.min(l, 4) - 1; b >= 0; b--) lo = (lo << 8) | buf[off + b]!;
        for (let b = l - 1; b >= 4; b--) hi = (hi << 8) | buf[off + b]!;
        r |= dispatchWrite(this, mr, regOff, l, lo >>> 0, hi >>> 0, attrs);
      } else {
        r |= dispatchRead(this, mr, regOff, l, attrs);
        const lo = this.valLo;
        const hi = this.valHi;
        for (let b = 0; b < l; b++) buf[off + b] = b < 4 ? (lo >>> (8 * b)) & 0xff : (hi >>> (8 * (b - 4))) & 0xff;
      }
      regOff += l;
      off += l;
      n -= l;
    }
    return r;
  }

  private rwIommu(fr: FlatRange, addr: number, buf: Uint8Array, off: number, n: number, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    // The IOMMU's translate() is device code: the access enters its region like dispatch does.
    const lt = fr.mr.tracker;
    if (!lt.tryEnter()) {
      lt.check('iommu translate');
      if (!isWrite) buf.fill(0xff, off, off + n);
      this.unassignedAccesses++;
      return MEMTX_DECODE_ERROR;
    }
    try {
      return this.rwIommuEntered(fr, addr, buf, off, n, isWrite, attrs);
    } finally {
      lt.exit();
    }
  }

  private rwIommuEntered(fr: FlatRange, addr: number, buf: Uint8Array, off: number, n: number, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    const ops = fr.mr.iommuOps!;
    let regOff = addr - fr.start + fr.offsetInRegion;
    let r = MEMTX_OK;
    const need = isWrite ? IOMMU_WO : IOMMU_RO;
    // A translation into an address space that leads back here would recurse forever.
    if (iommuDepth >= MAX_IOMMU_DEPTH) {
      if (!isWrite) buf.fill(0xff, off, off + n);
      return MEMTX_ACCESS_ERROR;
    }
    iommuDepth++;
    try {
      while (n > 0) {
        const e = ops.translate(regOff, need, 0);
        const pageEnd = e.iova + e.addrMask + 1;
        if ((e.perm & need) === 0 || !(regOff >= e.iova && regOff < pageEnd)) {
          if (!isWrite) buf.fill(0xff, off, off + n);
          return r | MEMTX_ACCESS_ERROR;
        }
        const l = Math.min(n, pageEnd - regOff);
        r |= e.targetAs.rw(e.translatedAddr + (regOff - e.iova), buf, off, l, isWrite, attrs);
        regOff += l;
        off += l;
        n -= l;
      }
      return r;
    } finally {
      iommuDepth--;
    }
  }

  // ---------------------------------------------------------------- helpers (not for hot paths)

  ldub(addr: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): number {
    this.load(addr, 1, attrs);
    return this.valLo;
  }
  lduw(addr: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): number {
    this.load(addr, 2, attrs);
    return this.valLo;
  }
  ldl(addr: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): number {
    this.load(addr, 4, attrs);
    return this.valLo;
  }
  ldq(addr: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): bigint {
    this.load(addr, 8, attrs);
    return (BigInt(this.valHi) << 32n) | BigInt(this.valLo);
  }
  stb(addr: number, v: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.store(addr, 1, v & 0xff, 0, attrs);
  }
  stw(addr: number, v: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.store(addr, 2, v & 0xffff, 0, attrs);
  }
  stl(addr: number, v: number, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.store(addr, 4, v >>> 0, 0, attrs);
  }
  stq(addr: number, v: bigint, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): MemTxResult {
    return this.store(addr, 8, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn), attrs);
  }

  /** Address spaces alive in this realm, in creation order (for `info mtree`). */
  static all(): readonly AddressSpace[] {
    return spaces;
  }
}

setTopologyUpdater({ updateTopology: (romdOnly) => AddressSpace.updateTopology(romdOnly) });

