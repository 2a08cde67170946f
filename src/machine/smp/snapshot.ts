/**
 * Flat-view snapshots that cross realms.
 *
 * A FlatView (src/memory/flatview.ts) holds MemoryRegion objects, which live
 * in the realm that built the map. Another realm gets the view's own lookup
 * tables (FlatTables: range bounds, kinds and the radix, typed arrays on
 * SharedArrayBuffers, so posting them shares rather than copies) and looks
 * addresses up with the same function the memory core uses (flatFindIndex);
 * what it cannot share, the region objects, is replaced per range by typed
 * arrays saying which RAM buffer and where in it, which device in which home
 * realm and at what region offset, plus the SharedArrayBuffers that back RAM
 * and ROM. Buffers are shared, not copied, so a hart realm reads and writes
 * guest RAM directly; devices are named by (home realm, device id) and
 * reached through that realm's mailbox.
 *
 * A snapshot is immutable and carries the epoch it was published at; see
 * epoch.ts for when an old one may be dropped.
 */
import { flatFindIndex, type FlatTables, type FlatView } from '../../memory/flatview.js';
import { RANGE_IO, RANGE_IOMMU, RANGE_RAM, RANGE_RESERVED, RANGE_ROM, RANGE_ROMD } from '../../memory/flatview.js';
import type { MemoryRegion } from '../../memory/region.js';

/** Range kinds in a snapshot (same numbering as the memory core's RANGE_*). */
export const SNAP_RAM = RANGE_RAM;
export const SNAP_ROM = RANGE_ROM;
export const SNAP_ROMD = RANGE_ROMD;
export const SNAP_IO = RANGE_IO;
export const SNAP_RESERVED = RANGE_RESERVED;
export const SNAP_IOMMU = RANGE_IOMMU;

/** The structured-clone form of a snapshot (what postMessage carries). */
export interface SnapshotData extends FlatTables {
  readonly epoch: number;
  /** Index into `buffers` for RAM/ROM/ROMD ranges, else -1. */
  readonly buf: Int32Array;
  /** Byte offset within that buffer of the range's first byte. */
  readonly bufOff: Float64Array;
  /** Home realm of the device answering I/O (and ROMD writes, IOMMU ranges). */
  readonly realm: Int32Array;
  /** Device id within its home realm (-1 for IOMMU ranges: served by address). */
  readonly dev: Int32Array;
  /** Offset within the device's region of the range's first byte. */
  readonly devOff: Float64Array;
  /** Per range: the portable kind of its device (DeviceHome.portable), else null. */
  readonly portable: readonly (string | null)[];
  readonly buffers: readonly SharedArrayBuffer[];
  /**
   * Index in `buffers` of the buffer of the WebAssembly memory holding guest RAM and the
   * harts' state areas (src/memory/guest-ram.ts), or -1. A realm holding that memory views
   * it through the memory's own buffer, which its harts recognise as directly addressable.
   */
  readonly wasmRam: number;
  /** Region names, for reports and tests. */
  readonly names: readonly string[];
}

/** Where a device region lives: its home realm and its id there. */
export interface DeviceHome {
  readonly realm: number;
  readonly dev: number;
  /**
   * Set for a device whose state lives in shared memory (the ACLINT SWI's MSIP bits):
   * a realm that can build a region of this kind runs the accesses itself.
   */
  readonly portable?: string;
}

/** Assigns (realm, id) to the I/O regions a view contains. */
export interface DeviceHomes {
  locate(mr: MemoryRegion): DeviceHome;
}

/** Serialize `view` as published at `epoch`: its lookup tables as they are, plus the per-range data other realms need. O(ranges). */
export function serializeFlatView(view: FlatView, epoch: number, homes: DeviceHomes, wasmRam: ArrayBufferLike | null = null): SnapshotData {
  const ranges = view.ranges;
  const n = ranges.length;
  const buf = new Int32Array(n).fill(-1);
  const bufOff = new Float64Array(n);
  const realm = new Int32Array(n).fill(-1);
  const dev = new Int32Array(n).fill(-1);
  const devOff = new Float64Array(n);
  const portable: (string | null)[] = new Array<string | null>(n).fill(null);
  const buffers: SharedArrayBuffer[] = [];
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const fr = ranges[i]!;
    names.push(fr.mr.name);
    devOff[i] = fr.offsetInRegion;
    if (fr.bytes !== null) {
      const b = fr.mr.ramBuffer();
      let bi = buffers.indexOf(b);
      if (bi < 0) bi = buffers.push(b) - 1;
      buf[i] = bi;
      bufOff[i] = fr.offsetInRegion;
    }
    if (fr.kind === RANGE_IO || fr.kind === RANGE_ROMD) {
      const h = homes.locate(fr.mr);
      realm[i] = h.realm;
      dev[i] = h.dev;
      if (fr.kind === RANGE_IO && h.portable !== undefined) portable[i] = h.portable;
    } else if (fr.kind === RANGE_IOMMU) {
      realm[i] = 0;
    }
  }
  const { starts, ends, kinds, radix, mixed } = view;
  const wi = wasmRam === null ? -1 : buffers.indexOf(wasmRam as SharedArrayBuffer);
  return { epoch, starts, ends, kinds, radix, mixed, buf, bufOff, realm, dev, devOff, portable, buffers, wasmRam: wi, names };
}

const EMPTY = new Uint8Array(new SharedArrayBuffer(8));

/**
 * A snapshot adopted by a realm: the arrays plus a typed view of each RAM
 * range (made once at adoption, never per access).
 */
export class SnapshotView {
  readonly epoch: number;
  readonly data: SnapshotData;
  readonly count: number;
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly kinds: Uint8Array;
  private readonly radix: Int32Array;
  private readonly mixed: Int32Array;
  /** Per range: the bytes of exactly that range (RAM/ROM/ROMD), else an empty array. */
  readonly bytes: Uint8Array[];
  readonly dvs: DataView[];

  /** `memory`: this realm's handle on the guest-RAM memory (data.wasmRam), if it has one. */
  constructor(data: SnapshotData, memory: WebAssembly.Memory | null = null) {
    this.data = data;
    this.epoch = data.epoch;
    this.count = data.starts.length;
    this.starts = data.starts;
    this.ends = data.ends;
    this.kinds = data.kinds;
    this.radix = data.radix;
    this.mixed = data.mixed;
    this.bytes = [];
    this.dvs = [];
    for (let i = 0; i < this.count; i++) {
      const bi = data.buf[i]!;
      if (bi >= 0) {
        const b = bi === data.wasmRam && memory !== null ? (memory.buffer as unknown as SharedArrayBuffer) : data.buffers[bi]!;
        const len = data.ends[i]! - data.starts[i]!;
        this.bytes.push(new Uint8Array(b, data.bufOff[i]!, len));
        this.dvs.push(new DataView(b, data.bufOff[i]!, len));
      } else {
        this.bytes.push(EMPTY);
        this.dvs.push(new DataView(EMPTY.buffer));
      }
    }
  }

  /** Index of the range containing addr, or -1: the memory core's lookup on the view's own tables. */
  findIndex(addr: number): number {
    return flatFindIndex(this.radix, this.mixed, this.starts, this.ends, addr);
  }
}
