/**
 * qcow2 on-disk structures (QEMU's docs/interop/qcow2.txt), as pure parsers:
 * bytes in, a typed header or a typed failure out. Nothing here does I/O, so
 * the fuzz test drives these functions directly. All fields are big-endian;
 * 64-bit fields are read as two 32-bit halves (no BigInt on hot paths) and
 * every offset is checked to be a safe integer before it is used.
 */

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** QEMU's limits: 32 MiB of L1 table, 8 MiB of refcount table, 65536 snapshots. */
export const MAX_L1_BYTES = 32 << 20;
export const MAX_REFTABLE_BYTES = 8 << 20;
export const MAX_SNAPSHOTS = 65536;
/** Largest virtual size tsvmm accepts: offsets are JS numbers, exact to 2^53. */
export const MAX_VIRTUAL_SIZE = 2 ** 53 - 2 ** 21;

export const INCOMPAT_DIRTY = 1;
export const INCOMPAT_CORRUPT = 2;
export const INCOMPAT_DATA_FILE = 4;
export const INCOMPAT_COMPRESSION = 8;
export const INCOMPAT_EXTL2 = 16;
const INCOMPAT_KNOWN = 31;

export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_DATA_FILE = 0x44415441;

/** Offsets of header fields that the driver rewrites. */
export const HDR_REFTABLE = 48; // refcount_table_offset (8) + refcount_table_clusters (4)
export const HDR_AUTOCLEAR = 88;

export type Qcow2ParseFailure =
  | 'too-short'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-cluster-bits'
  | 'encrypted'
  | 'bad-size'
  | 'bad-l1'
  | 'bad-reftable'
  | 'bad-snapshots'
  | 'bad-refcount-order'
  | 'bad-header-length'
  | 'bad-backing-name'
  | 'bad-extension'
  | 'unsupported-feature'
  | 'dirty'
  | 'corrupt';

export class Qcow2FormatError extends Error {
  constructor(
    readonly reason: Qcow2ParseFailure,
    message: string,
  ) {
    super(message);
    this.name = 'Qcow2FormatError';
  }
}

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  size: number;
  l1Size: number;
  l1Offset: number;
  refTableOffset: number;
  refTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: number;
  compatible: number;
  autoclear: number;
  refcountOrder: number;
  headerLength: number;
  backingFile?: string;
  backingFormat?: string;
}

/** A 64-bit big-endian field as a number; -1 when it is not a safe integer. */
export function u64(dv: DataView, at: number): number {
  const hi = dv.getUint32(at);
  const lo = dv.getUint32(at + 4);
  if (hi >= 0x200000) return -1;
  return hi * 0x100000000 + lo;
}

function fail(reason: Qcow2ParseFailure, message: string): never {
  throw new Qcow2FormatError(reason, message);
}

/**
 * Parse and check the header (the first cluster, or as much of the file as
 * exists) against the file length. `writable`: whether the image is to be
 * opened for writing (the corrupt bit refuses that, as QEMU does).
 */
export function parseHeader(buf: Uint8Array, fileLength: number, writable: boolean): Qcow2Header {
  if (buf.length < 72) fail('too-short', 'image is too short for a qcow2 header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0) !== QCOW2_MAGIC) fail('bad-magic', 'Image is not in qcow2 format');
  const version = dv.getUint32(4);
  if (version !== 2 && version !== 3) fail('bad-version', `unsupported qcow2 version ${version}`);
  const clusterBits = dv.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) fail('bad-cluster-bits', `cluster size 2^${clusterBits} is out of range (2^9..2^21)`);
  const cs = 2 ** clusterBits;
  if (dv.getUint32(32) !== 0) fail('encrypted', 'encrypted qcow2 images are not supported');
  const size = u64(dv, 24);
  if (size < 0 || size > MAX_VIRTUAL_SIZE) fail('bad-size', `virtual size ${dv.getBigUint64(24)} is too large (at most 2^53 bytes)`);
  const l1Size = dv.getUint32(36);
  const l1Offset = u64(dv, 40);
  const l2Entries = cs / 8;
  const need = Math.ceil(size / (cs * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) fail('bad-l1', `L1 table of ${l1Size} entries is too large`);
  if (l1Size < need) fail('bad-l1', `L1 table of ${l1Size} entries is too small for the virtual size`);
  if (l1Size > 0 && (l1Offset < cs || l1Offset % cs !== 0 || l1Offset + l1Size * 8 > fileLength)) {
    fail('bad-l1', `L1 table offset 0x${l1Offset.toString(16)} is unaligned, in the header or past the end of the file`);
  }
  const refTableOffset = u64(dv, 48);
  const refTableClusters = dv.getUint32(56);
  if (refTableClusters === 0 || refTableClusters * cs > MAX_REFTABLE_BYTES) fail('bad-reftable', `refcount table of ${refTableClusters} clusters is out of range`);
  if (refTableOffset < cs || refTableOffset % cs !== 0 || refTableOffset + refTableClusters * cs > fileLength) {
    fail('bad-reftable', `refcount table offset 0x${refTableOffset.toString(16)} is unaligned, in the header or past the end of the file`);
  }
  const nbSnapshots = dv.getUint32(60);
  const snapshotsOffset = u64(dv, 64);
  if (nbSnapshots > MAX_SNAPSHOTS) fail('bad-snapshots', `${nbSnapshots} snapshots is more than ${MAX_SNAPSHOTS}`);
  if (nbSnapshots > 0 && (snapshotsOffset < cs || snapshotsOffset % cs !== 0 || snapshotsOffset >= fileLength)) {
    fail('bad-snapshots', 'snapshot table offset is unaligned, in the header or past the end of the file');
  }
  let incompatible = 0;
  let compatible = 0;
  let autoclear = 0;
  let refcountOrder = 4;
  let headerLength = 72;
  if (version === 3) {
    if (buf.length < 104) fail('too-short', 'image is too short for a qcow2 v3 header');
    if (dv.getUint32(72) !== 0 || dv.getUint32(80) !== 0 || dv.getUint32(88) !== 0) {
      fail('unsupported-feature', 'Unsupported qcow2 feature(s): unknown high feature bits');
    }
    incompatible = dv.getUint32(76);
    compatible = dv.getUint32(84);
    autoclear = dv.getUint32(92);
    refcountOrder = dv.getUint32(96);
    headerLength = dv.getUint32(100);
    if (refcountOrder > 6) fail('bad-refcount-order', `refcount order ${refcountOrder} is out of range (0..6)`);
    if (headerLength < 104 || headerLength % 8 !== 0 || headerLength > Math.min(cs, buf.length)) {
      fail('bad-header-length', `header length ${headerLength} is invalid`);
    }
    const unknown = incompatible & ~INCOMPAT_KNOWN;
    if (unknown) fail('unsupported-feature', `Unsupported qcow2 feature(s): Unknown incompatible feature: ${unknown.toString(16)}`);
    if (incompatible & INCOMPAT_DATA_FILE) fail('unsupported-feature', 'Unsupported qcow2 feature(s): external data file');
    if (incompatible & INCOMPAT_EXTL2) fail('unsupported-feature', 'Unsupported qcow2 feature(s): extended L2 entries');
    if (incompatible & INCOMPAT_COMPRESSION) {
      const type = headerLength > 104 ? buf[104]! : 0;
      if (type !== 0) fail('unsupported-feature', `Unsupported qcow2 feature(s): compression type ${type} (only zlib)`);
    }
    if (incompatible & INCOMPAT_DIRTY) {
      fail('dirty', 'image is marked dirty (lazy refcounts were in use and it was not closed cleanly); repair it with qemu-img check -r all');
    }
    if (incompatible & INCOMPAT_CORRUPT && writable) fail('corrupt', 'image is marked corrupt; it can only be opened read-only (readonly=on) or repaired with qemu-img check -r all');
  }
  const hdr: Qcow2Header = {
    version: version as 2 | 3,
    clusterBits,
    clusterSize: cs,
    size,
    l1Size,
    l1Offset,
    refTableOffset,
    refTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatible,
    compatible,
    autoclear,
    refcountOrder,
    headerLength,
  };
  const bfOff = u64(dv, 8);
  const bfLen = dv.getUint32(16);
  if (bfOff !== 0) {
    if (bfOff < 0 || bfLen === 0 || bfLen > 1023 || bfOff + bfLen > Math.min(cs, buf.length)) fail('bad-backing-name', 'backing file name is outside the header cluster or too long');
    hdr.backingFile = new TextDecoder().decode(buf.subarray(bfOff, bfOff + bfLen));
  }
  // Header extensions: from the end of the header to an end marker, within the first cluster.
  let at = headerLength;
  const end = Math.min(cs, buf.length, bfOff > 0 ? bfOff : Infinity);
  while (at + 8 <= end) {
    const type = dv.getUint32(at);
    const len = dv.getUint32(at + 4);
    if (type === EXT_END) break;
    if (at + 8 + len > end) fail('bad-extension', `header extension 0x${type.toString(16)} runs past the header cluster`);
    if (type === EXT_BACKING_FORMAT) hdr.backingFormat = new TextDecoder().decode(buf.subarray(at + 8, at + 8 + len));
    at += 8 + Math.ceil(len / 8) * 8;
  }
  return hdr;
}

/** An L1 or L2 entry's host offset (bits 9..55); the caller checks flags. */
export function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 0x100000000 + (lo & 0xfffffe00);
}

export const FLAG_COPIED_HI = 0x80000000;
export const FLAG_COMPRESSED_HI = 0x40000000;
export const FLAG_ZERO_LO = 1;

/** Host byte offset and byte length of a compressed cluster's data (descriptor bits per the spec). */
export function compressedExtent(hi: number, lo: number, clusterBits: number): { offset: number; length: number } {
  const x = 62 - (clusterBits - 8); // offset bits 0..x-1, sector count bits x..61
  const hiOffBits = x - 32;
  const offHi = hi & ((1 << hiOffBits) - 1);
  // Near 2^53 a number is not exact (and offset + length may pass it); no real file is that
  // long, so say "past the end" outright.
  const PAST_END = Number.MAX_SAFE_INTEGER - 2 ** 30;
  const offset = offHi >= 0x200000 ? PAST_END : Math.min(offHi * 0x100000000 + lo, PAST_END);
  const sectors = (hi >>> hiOffBits) & ((1 << (62 - x)) - 1);
  const end = (Math.floor(offset / 512) + sectors + 1) * 512;
  return { offset, length: end - offset };
}

export interface Qcow2Snapshot {
  id: string;
  name: string;
  l1Offset: number;
  l1Size: number;
  dateSec: number;
  vmStateSize: number;
}

/** Parse `count` snapshot table entries (each 8-byte aligned). */
export function parseSnapshots(buf: Uint8Array, count: number): Qcow2Snapshot[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Qcow2Snapshot[] = [];
  let at = 0;
  const td = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (at + 40 > buf.length) fail('bad-snapshots', 'snapshot table runs past its end');
    const l1Offset = u64(dv, at);
    const l1Size = dv.getUint32(at + 8);
    const idLen = dv.getUint16(at + 12);
    const nameLen = dv.getUint16(at + 14);
    const dateSec = dv.getUint32(at + 16);
    const vmStateSize = dv.getUint32(at + 32);
    const extra = dv.getUint32(at + 36);
    let p = at + 40 + extra;
    if (p + idLen + nameLen > buf.length || extra > 1024) fail('bad-snapshots', 'snapshot table entry runs past its end');
    const id = td.decode(buf.subarray(p, p + idLen));
    p += idLen;
    const name = td.decode(buf.subarray(p, p + nameLen));
    p += nameLen;
    out.push({ id, name, l1Offset, l1Size, dateSec, vmStateSize });
    at = Math.ceil(p / 8) * 8;
  }
  return out;
}
