/**
 * FlatView: the memory map of an address space flattened into sorted,
 * non-overlapping ranges, each pointing at the region that answers there.
 *
 * Rendering follows QEMU's rules (render_memory_region): a disabled region
 * renders nothing; an alias renders its target shifted by the alias offset;
 * a region renders its subregions first, in order (higher priority first,
 * among equal priorities the most recently added first), and then, if it
 * terminates (is not a container or alias), fills the holes its subregions
 * left. Ranges already placed are never overwritten, so an earlier
 * (higher-priority) range hides later ones and holes let lower-priority
 * siblings show through. Adjacent ranges of the same region with contiguous
 * offsets and the same attributes are then merged.
 *
 * A FlatView is immutable once built: it may be read from any thread. Its
 * lookup tables (`FlatTables`: range bounds, kinds and the radix) are typed
 * arrays on SharedArrayBuffers, so a snapshot posted to a worker realm carries
 * the very tables this realm searches, and the worker looks addresses up with
 * the same function (`flatFindIndex`), without copying or rebuilding them.
 * Everything at or above 2^53 is clipped away (such addresses decode as unassigned).
 */
import { MemoryRegion, PHYS_ADDR_LIMIT } from './region.js';
import type { RamTables } from './ram-path.js';

/** How dispatch treats a range (precomputed so the hot path switches on a small integer). */
export const RANGE_RAM = 0;
/** ROM, or RAM made read-only: reads direct, writes dropped and counted. */
export const RANGE_ROM = 1;
/** ROM device in romd mode: reads direct, writes to ops. */
export const RANGE_ROMD = 2;
export const RANGE_IO = 3;
/** Reservation: mapped, but decodes like unassigned memory. */
export const RANGE_RESERVED = 4;
export const RANGE_IOMMU = 5;

export class FlatRange {
  /** Guest address of the first byte. */
  readonly start: number;
  readonly size: number;
  /** start + size (exclusive). */
  readonly end: number;
  /** The region that answers accesses here (never an alias or container). */
  readonly mr: MemoryRegion;
  /** Offset of `start` within `mr`. */
  readonly offsetInRegion: number;
  readonly readonly: boolean;
  readonly romd: boolean;
  /** RANGE_* */
  readonly kind: number;
  /** For RAM, ROM and ROM devices: the backing bytes of exactly this range (bytes[0] is at `start`). */
  readonly bytes: Uint8Array | null;
  readonly dv: DataView | null;

  constructor(start: number, size: number, mr: MemoryRegion, offsetInRegion: number, readonly: boolean, romd: boolean) {
    this.start = start;
    this.size = size;
    this.end = start + size;
    this.mr = mr;
    this.offsetInRegion = offsetInRegion;
    this.readonly = readonly;
    this.romd = romd;
    let kind: number;
    switch (mr.kind) {
      case 'ram':
      case 'rom':
        kind = readonly ? RANGE_ROM : RANGE_RAM;
        break;
      case 'romDevice':
        kind = romd ? RANGE_ROMD : RANGE_IO;
        break;
      case 'reservation':
        kind = RANGE_RESERVED;
        break;
      case 'iommu':
        kind = RANGE_IOMMU;
        break;
      default:
        kind = RANGE_IO;
    }
    this.kind = kind;
    if (mr.kind === 'ram' || mr.kind === 'rom' || mr.kind === 'romDevice') {
      const buf = mr.ramBuffer();
      this.bytes = new Uint8Array(buf, offsetInRegion, size);
      this.dv = new DataView(buf, offsetInRegion, size);
    } else {
      this.bytes = null;
      this.dv = null;
    }
    Object.freeze(this);
  }

  /** QEMU's flatrange_equal. */
  equals(o: FlatRange): boolean {
    return (
      this.start === o.start &&
      this.size === o.size &&
      this.mr === o.mr &&
      this.offsetInRegion === o.offsetInRegion &&
      this.readonly === o.readonly &&
      this.romd === o.romd
    );
  }
}

interface RawRange {
  start: number;
  size: number;
  mr: MemoryRegion;
  off: number;
  readonly: boolean;
  romd: boolean;
}

/** First index whose range ends after `addr`. */
function firstEndingAfter(out: RawRange[], addr: number): number {
  let lo = 0;
  let hi = out.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = out[mid]!;
    if (r.start + r.size <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function render(out: RawRange[], mr: MemoryRegion, base: number, clipStart: number, clipEnd: number, readonly: boolean): void {
  if (!mr.enabled) return;
  base += mr.addr;
  const s = Math.max(base, clipStart);
  const e = Math.min(base + mr.size, clipEnd);
  if (s >= e) return;
  readonly = readonly || mr.readonly;
  const alias = mr.alias;
  if (alias) {
    // The target's own addr is added back when it renders, as in QEMU.
    render(out, alias, base - alias.addr - mr.aliasOffset, s, e, readonly);
    return;
  }
  const subs = mr.subregions;
  for (let k = 0; k < subs.length; k++) render(out, subs[k]!, base, s, e, readonly);
  if (!mr.terminates) return;

  let b = s;
  let off = s - base;
  let remain = e - s;
  const romd = mr.romd;
  let i = firstEndingAfter(out, b);
  while (remain > 0 && i < out.length) {
    const r = out[i]!;
    if (b < r.start) {
      const now = Math.min(remain, r.start - b);
      out.splice(i, 0, { start: b, size: now, mr, off, readonly, romd });
      i++;
      b += now;
      off += now;
      remain -= now;
      if (remain === 0) break;
    }
    const now = Math.min(remain, r.start + r.size - b);
    b += now;
    off += now;
    remain -= now;
    i++;
  }
  if (remain > 0) out.push({ start: b, size: remain, mr, off, readonly, romd });
}

/**
 * The region whose rendering equals `root`'s (QEMU's
 * memory_region_get_flatview_root): follow aliases that show their whole target
 * at offset 0 and containers whose only enabled child covers them from 0.
 * Null when nothing would render. Address spaces with the same effective root
 * share one FlatView. Unlike QEMU we stop at read-only regions, whose flag
 * would otherwise be lost.
 */
export function effectiveRoot(root: MemoryRegion): MemoryRegion | null {
  let mr = root;
  while (mr.enabled) {
    if (mr.readonly) return mr;
    if (mr.alias) {
      if (mr.aliasOffset === 0 && mr.size >= mr.alias.size) {
        mr = mr.alias;
        continue;
      }
    } else if (!mr.terminates) {
      let found = 0;
      let next: MemoryRegion | null = null;
      for (const child of mr.subregions) {
        if (!child.enabled) continue;
        if (++found > 1) {
          next = null;
          break;
        }
        if (child.addr === 0 && mr.size >= child.size) next = child;
      }
      if (found === 0) return null;
      if (next) {
        mr = next;
        continue;
      }
    }
    return mr;
  }
  return null;
}

/**
 * A flat view's lookup tables: plain typed arrays over SharedArrayBuffers
 * (structured clone shares them with another realm).
 */
export interface FlatTables {
  /** ranges[i].start / .end. */
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  /** ranges[i].kind (RANGE_*). */
  readonly kinds: Uint8Array;
  /**
   * A five-level radix over the 53-bit address (10, 10, 10, 11 and 6 bits:
   * 4 KiB pages split into 64-byte leaf slots), flattened into one Int32Array.
   * Entry e: 0 = slot unassigned; e > 0 = slot wholly inside range e - 1;
   * e < 0 = child node at offset -e - 1 (at the leaf level: mixed slot number
   * -e - 1, see `mixed`). Nodes exist only where a range boundary falls.
   */
  readonly radix: Int32Array;
  /** For each mixed leaf slot: first and last index of the ranges touching it. */
  readonly mixed: Int32Array;
}

function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * n));
}

function sharedI32(from: readonly number[]): Int32Array {
  const a = new Int32Array(new SharedArrayBuffer(4 * from.length));
  for (let i = 0; i < from.length; i++) a[i] = from[i]!;
  return a;
}

/**
 * Index of the range containing addr in `t`, or -1 (unassigned). At most five
 * table loads; a 64-byte slot shared by several ranges (or partly unassigned)
 * falls back to a binary search among the few ranges touching it. The one
 * lookup every realm uses (FlatView.findIndex, SnapshotView.findIndex).
 */
export function flatFindIndex(radix: Int32Array, mixed: Int32Array, starts: Float64Array, ends: Float64Array, addr: number): number {
  if (!(addr >= 0 && addr < PHYS_ADDR_LIMIT)) return -1;
  const hi = Math.floor(addr / 4294967296);
  const lo = addr - hi * 4294967296;
  const t = radix;
  let e = t[hi >>> 11]!;
  if (e >= 0) return e - 1;
  e = t[-e - 1 + ((hi >>> 1) & 1023)]!;
  if (e >= 0) return e - 1;
  e = t[-e - 1 + (((hi & 1) << 9) | (lo >>> 23))]!;
  if (e >= 0) return e - 1;
  e = t[-e - 1 + ((lo >>> 12) & 2047)]!;
  if (e >= 0) return e - 1;
  e = t[-e - 1 + ((lo >>> 6) & 63)]!;
  if (e >= 0) return e - 1;
  const m = -e - 1;
  let a = mixed[2 * m]!;
  let b = mixed[2 * m + 1]!;
  if (!(addr >= starts[a]!)) return -1;
  while (a < b) {
    const mid = (a + b + 1) >> 1;
    if (starts[mid]! <= addr) a = mid;
    else b = mid - 1;
  }
  return addr < ends[a]! ? a : -1;
}

const LEVEL_SHIFT = [43, 33, 23, 12, 6];
const LEVEL_SLOTS = [1024, 1024, 1024, 2048, 64];

class RadixBuilder {
  /**
   * Nodes of 1,024-2,048 slots, appended zeroed as ranges need them: a typed array grown by
   * doubling, `used` slots of it in use. (A JS array filled one push at a time, in code V8
   * has not optimised this early, cost ~1 MB of garbage per machine start.)
   */
  table = new Int32Array(4 * LEVEL_SLOTS[0]!);
  used = LEVEL_SLOTS[0]!;
  readonly mixed: number[] = [];

  /** The table's used part, in shared memory (every realm reads views). */
  sharedTable(): Int32Array {
    const a = new Int32Array(new SharedArrayBuffer(4 * this.used));
    a.set(this.table.subarray(0, this.used));
    return a;
  }

  /** A zeroed node of n slots at the table's end; returns its offset. */
  private node(n: number): number {
    const off = this.used;
    if (off + n > this.table.length) {
      const grown = new Int32Array(Math.max(2 * this.table.length, off + n));
      grown.set(this.table.subarray(0, off));
      this.table = grown;
    }
    this.used = off + n;
    return off;
  }

  insert(node: number, level: number, slotBase: number, start: number, end: number, idx: number): void {
    const size = 2 ** LEVEL_SHIFT[level]!;
    const first = Math.floor((start - slotBase) / size);
    const last = Math.floor((end - 1 - slotBase) / size);
    let t = this.table;
    for (let s = first; s <= last; s++) {
      const sStart = slotBase + s * size;
      const sEnd = sStart + size;
      const p = node + s;
      if (start <= sStart && end >= sEnd) {
        t[p] = idx + 1;
      } else if (level === LEVEL_SHIFT.length - 1) {
        if (t[p] === 0) {
          this.mixed.push(idx, idx);
          t[p] = -(this.mixed.length / 2);
        } else {
          this.mixed[2 * (-t[p]! - 1) + 1] = idx;
        }
      } else {
        if (t[p] === 0) {
          const off = this.node(LEVEL_SLOTS[level + 1]!);
          t = this.table;
          t[p] = -(off + 1);
        }
        this.insert(-t[p]! - 1, level + 1, sStart, Math.max(start, sStart), Math.min(end, sEnd), idx);
        t = this.table;
      }
    }
  }
}

const NO_BYTES = new Uint8Array(new SharedArrayBuffer(8));
const NO_DV = new DataView(NO_BYTES.buffer);

function kindsOf(ranges: readonly FlatRange[]): Uint8Array {
  const k = new Uint8Array(new SharedArrayBuffer(Math.max(1, ranges.length)));
  for (let i = 0; i < ranges.length; i++) k[i] = ranges[i]!.kind;
  return k;
}

export class FlatView implements FlatTables, RamTables {
  /** Publication number: strictly increases with every view published in this realm. */
  readonly epoch: number;
  /** The effective root this view was rendered from (null: empty). */
  readonly root: MemoryRegion | null;
  readonly ranges: readonly FlatRange[];
  // FlatTables (see there).
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly kinds: Uint8Array;
  readonly radix: Int32Array;
  readonly mixed: Int32Array;
  // RamTables (ram-path.ts): each range's backing bytes, for the RAM fast path.
  readonly bytes: readonly Uint8Array[];
  readonly dvs: readonly DataView[];

  constructor(root: MemoryRegion | null, ranges: FlatRange[], epoch: number, shape?: FlatView) {
    this.root = root;
    this.epoch = epoch;
    this.ranges = Object.freeze(ranges);
    this.bytes = ranges.map((r) => r.bytes ?? NO_BYTES);
    this.dvs = ranges.map((r) => r.dv ?? NO_DV);
    if (shape) {
      // Same boundaries as `shape` (only range attributes differ): share its lookup tables.
      // (Kinds can differ: a ROM device's romd mode flips RANGE_ROMD <-> RANGE_IO.)
      this.starts = shape.starts;
      this.ends = shape.ends;
      this.radix = shape.radix;
      this.mixed = shape.mixed;
      this.kinds = kindsOf(ranges);
      Object.freeze(this);
      return;
    }
    const n = ranges.length;
    this.starts = sharedF64(n);
    this.ends = sharedF64(n);
    for (let i = 0; i < n; i++) {
      this.starts[i] = ranges[i]!.start;
      this.ends[i] = ranges[i]!.end;
    }
    this.kinds = kindsOf(ranges);
    const b = new RadixBuilder();
    for (let i = 0; i < n; i++) b.insert(0, 0, 0, ranges[i]!.start, ranges[i]!.end, i);
    this.radix = b.sharedTable();
    this.mixed = sharedI32(b.mixed);
    Object.freeze(this);
  }

  /**
   * This view with the romd mode of `flipped` ROM devices re-read from the
   * regions: what rendering would give when nothing but romd changed (a
   * region's pieces merge only with each other and all flip together, so the
   * boundaries stay). Returns this view when none of its ranges is affected.
   */
  withRomd(flipped: ReadonlySet<MemoryRegion>, epoch: number): FlatView {
    let ranges: FlatRange[] | null = null;
    for (let i = 0; i < this.ranges.length; i++) {
      const r = this.ranges[i]!;
      if (!flipped.has(r.mr) || r.romd === r.mr.romd) continue;
      ranges ??= this.ranges.slice();
      ranges[i] = new FlatRange(r.start, r.size, r.mr, r.offsetInRegion, r.readonly, r.mr.romd);
    }
    return ranges ? new FlatView(this.root, ranges, epoch, this) : this;
  }

  /** Render `root` (an effective root, or null for an empty view). */
  static render(root: MemoryRegion | null, epoch: number): FlatView {
    const raw: RawRange[] = [];
    // The root is seen at address 0 even if it is also mapped somewhere as a
    // subregion (QEMU would shift the view by the root's own offset).
    if (root) render(raw, root, -root.addr, 0, PHYS_ADDR_LIMIT, false);
    const merged: FlatRange[] = [];
    let cur: RawRange | null = null;
    for (const r of raw) {
      if (
        cur &&
        cur.mr === r.mr &&
        cur.start + cur.size === r.start &&
        cur.off + cur.size === r.off &&
        cur.readonly === r.readonly &&
        cur.romd === r.romd
      ) {
        cur.size += r.size;
        continue;
      }
      if (cur) merged.push(new FlatRange(cur.start, cur.size, cur.mr, cur.off, cur.readonly, cur.romd));
      cur = { ...r };
    }
    if (cur) merged.push(new FlatRange(cur.start, cur.size, cur.mr, cur.off, cur.readonly, cur.romd));
    return new FlatView(root, merged, epoch);
  }

  /** Index of the range containing addr, or -1 (unassigned); see flatFindIndex. */
  findIndex(addr: number): number {
    return flatFindIndex(this.radix, this.mixed, this.starts, this.ends, addr);
  }

  /**
   * Where the first range starting above addr starts (Infinity if none): an unassigned
   * address's gap ends there (every accessor walking a view crosses gaps this way).
   */
  nextStart(addr: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo < starts.length ? starts[lo]! : Infinity;
  }

  /** The range containing addr, or null. */
  lookup(addr: number): FlatRange | null {
    const i = this.findIndex(addr);
    return i < 0 ? null : this.ranges[i]!;
  }

  /** Same ranges as `o` (range by range, QEMU's flatrange_equal). */
  sameRanges(o: FlatView): boolean {
    const a = this.ranges;
    const b = o.ranges;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!a[i]!.equals(b[i]!)) return false;
    return true;
  }
}
