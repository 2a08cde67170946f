/**
 * Flattened device tree (devicetree specification v0.4, FDT format version 17):
 * a small in-memory tree, a writer and a reader.
 *
 * The writer lays out, in order: the 40-byte header, the memory reservation
 * block (8-byte aligned, terminated by a zero entry), the structure block and
 * the strings block. Property names are deduplicated in the strings block,
 * including as suffixes of longer names (as libfdt does), so trees stay small.
 * Nodes and properties are emitted in insertion order.
 */

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;

const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
const HEADER_SIZE = 40;

export class FdtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FdtError';
  }
}

export interface FdtReservation {
  address: number;
  size: number;
}

export class FdtProperty {
  constructor(
    readonly name: string,
    public value: Uint8Array,
  ) {}

  /** The value as big-endian 32-bit cells (throws if the length is not a multiple of 4). */
  cells(): number[] {
    if (this.value.length % 4 !== 0) throw new FdtError(`property ${this.name} is not a list of cells`);
    const dv = new DataView(this.value.buffer, this.value.byteOffset, this.value.byteLength);
    const out: number[] = [];
    for (let i = 0; i < this.value.length; i += 4) out.push(dv.getUint32(i));
    return out;
  }

  /** The value as a list of NUL-terminated strings. */
  strings(): string[] {
    const text = new TextDecoder().decode(this.value);
    const parts = text.split('\0');
    if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
    return parts;
  }
}

function checkName(name: string, what: string): void {
  if (name.length === 0 || name.includes('\0') || name.includes('/')) {
    throw new FdtError(`invalid ${what} name '${name}'`);
  }
}

export class FdtNode {
  readonly properties: FdtProperty[] = [];
  readonly children: FdtNode[] = [];

  constructor(
    readonly name: string,
    readonly parent: FdtNode | null,
  ) {}

  get path(): string {
    if (!this.parent) return '/';
    const p = this.parent.path;
    return p === '/' ? `/${this.name}` : `${p}/${this.name}`;
  }

  addNode(name: string): FdtNode {
    checkName(name, 'node');
    if (this.child(name)) throw new FdtError(`node ${this.path} already has a child '${name}'`);
    const n = new FdtNode(name, this);
    this.children.push(n);
    return n;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  /** The child, created when absent. */
  ensureNode(name: string): FdtNode {
    return this.child(name) ?? this.addNode(name);
  }

  removeNode(name: string): boolean {
    const i = this.children.findIndex((c) => c.name === name);
    if (i < 0) return false;
    this.children.splice(i, 1);
    return true;
  }

  prop(name: string): FdtProperty | undefined {
    return this.properties.find((p) => p.name === name);
  }

  /** Set (replace in place, or append) a property's raw value. */
  setProp(name: string, value: Uint8Array): this {
    checkName(name, 'property');
    const p = this.prop(name);
    if (p) p.value = value;
    else this.properties.push(new FdtProperty(name, value));
    return this;
  }

  removeProp(name: string): boolean {
    const i = this.properties.findIndex((p) => p.name === name);
    if (i < 0) return false;
    this.properties.splice(i, 1);
    return true;
  }

  setEmpty(name: string): this {
    return this.setProp(name, new Uint8Array(0));
  }

  /** One or more 32-bit cells. */
  setCells(name: string, ...cells: number[]): this {
    const b = new Uint8Array(cells.length * 4);
    const dv = new DataView(b.buffer);
    cells.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new FdtError(`cell ${c} of ${name} is not a 32-bit value`);
      dv.setUint32(i * 4, c);
    });
    return this.setProp(name, b);
  }

  setU32(name: string, v: number): this {
    return this.setCells(name, v);
  }

  /** 64-bit values, each as two cells (high, low). Values must be integers below 2^53. */
  setU64s(name: string, ...values: number[]): this {
    const cells: number[] = [];
    for (const v of values) cells.push(...u64Cells(v));
    return this.setCells(name, ...cells);
  }

  setString(name: string, s: string): this {
    return this.setStrings(name, s);
  }

  /** A string list: each string NUL-terminated, concatenated. */
  setStrings(name: string, ...list: string[]): this {
    const enc = new TextEncoder();
    const parts = list.map((s) => enc.encode(s));
    const b = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
    let o = 0;
    for (const p of parts) {
      b.set(p, o);
      o += p.length + 1;
    }
    return this.setProp(name, b);
  }
}

/** Split a non-negative integer below 2^53 into (high, low) 32-bit cells. */
export function u64Cells(v: number): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) throw new FdtError(`${v} is not a 64-bit value below 2^53`);
  return [Math.floor(v / 0x100000000), v >>> 0];
}

export class Fdt {
  readonly root = new FdtNode('', null);
  readonly reservations: FdtReservation[] = [];
  bootCpuId = 0;
  private nextPhandle = 1;

  /** A fresh phandle (1, 2, ...), as QEMU allocates them. */
  allocPhandle(): number {
    return this.nextPhandle++;
  }

  /** Look a node up by absolute path ("/soc/serial@10000000"). */
  find(path: string): FdtNode | undefined {
    if (path === '/') return this.root;
    let n: FdtNode | undefined = this.root;
    for (const part of path.split('/').filter((p) => p.length > 0)) {
      n = n.child(part);
      if (!n) return undefined;
    }
    return n;
  }

  /** Every node, depth first, parents before children. */
  *nodes(): Generator<FdtNode> {
    const stack: FdtNode[] = [this.root];
    while (stack.length) {
      const n = stack.pop()!;
      yield n;
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
    }
  }

  /** Serialise to a DTB (FDT v17). */
  toBlob(): Uint8Array {
    const strings = new StringTable();
    const struct = new ByteWriter();
    const enc = new TextEncoder();
    const emit = (n: FdtNode): void => {
      struct.u32(FDT_BEGIN_NODE);
      struct.bytes(enc.encode(n.name));
      struct.u8(0);
      struct.align4();
      for (const p of n.properties) {
        struct.u32(FDT_PROP);
        struct.u32(p.value.length);
        struct.u32(strings.offsetOf(p.name));
        struct.bytes(p.value);
        struct.align4();
      }
      for (const c of n.children) emit(c);
      struct.u32(FDT_END_NODE);
    };
    emit(this.root);
    struct.u32(FDT_END);

    const offRsv = HEADER_SIZE; // already 8-byte aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const offStruct = offRsv + rsvSize;
    const structBytes = struct.finish();
    const offStrings = offStruct + structBytes.length;
    const stringBytes = strings.finish();
    const total = offStrings + stringBytes.length;

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    const hdr = [FDT_MAGIC, total, offStruct, offStrings, offRsv, FDT_VERSION, FDT_LAST_COMP_VERSION, this.bootCpuId, stringBytes.length, structBytes.length];
    hdr.forEach((v, i) => dv.setUint32(i * 4, v));
    this.reservations.forEach((r, i) => {
      const [ah, al] = u64Cells(r.address);
      const [sh, sl] = u64Cells(r.size);
      dv.setUint32(offRsv + i * 16, ah);
      dv.setUint32(offRsv + i * 16 + 4, al);
      dv.setUint32(offRsv + i * 16 + 8, sh);
      dv.setUint32(offRsv + i * 16 + 12, sl);
    });
    out.set(structBytes, offStruct);
    out.set(stringBytes, offStrings);
    return out;
  }

  /** Parse a DTB (versions 16 and 17). Throws FdtError on anything malformed. */
  static parse(blob: Uint8Array): Fdt {
    if (blob.length < HEADER_SIZE) throw new FdtError('device tree blob is shorter than its header');
    const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    if (dv.getUint32(0) !== FDT_MAGIC) throw new FdtError('not a device tree blob (bad magic)');
    const total = dv.getUint32(4);
    const offStruct = dv.getUint32(8);
    const offStrings = dv.getUint32(12);
    const offRsv = dv.getUint32(16);
    const version = dv.getUint32(20);
    const lastComp = dv.getUint32(24);
    if (total > blob.length) throw new FdtError(`device tree totalsize ${total} exceeds the ${blob.length}-byte file`);
    if (lastComp > FDT_VERSION || version < 16) throw new FdtError(`unsupported device tree version ${version}`);
    const sizeStrings = dv.getUint32(32);
    const sizeStruct = version >= 17 ? dv.getUint32(36) : total - offStruct;
    if (offStruct + sizeStruct > total || offStrings + sizeStrings > total || offRsv > total) {
      throw new FdtError('device tree blocks lie outside the blob');
    }
    const fdt = new Fdt();
    fdt.bootCpuId = dv.getUint32(28);
    for (let o = offRsv; ; o += 16) {
      if (o + 16 > total) throw new FdtError('unterminated memory reservation block');
      const a = dv.getUint32(o) * 0x100000000 + dv.getUint32(o + 4);
      const s = dv.getUint32(o + 8) * 0x100000000 + dv.getUint32(o + 12);
      if (a === 0 && s === 0) break;
      fdt.reservations.push({ address: a, size: s });
    }
    // Fatal: a name that is not UTF-8 would come back changed (U+FFFD) in the blob handed to the guest.
    const dec = new TextDecoder('utf-8', { fatal: true });
    const cstr = (start: number, limit: number): [string, number] => {
      let e = start;
      while (e < limit && blob[e] !== 0) e++;
      if (e >= limit) throw new FdtError('unterminated string in device tree');
      try {
        return [dec.decode(blob.subarray(start, e)), e + 1];
      } catch {
        throw new FdtError(`a name at offset ${start} in the device tree is not valid UTF-8`);
      }
    };
    const end = offStruct + sizeStruct;
    let o = offStruct;
    let cur: FdtNode | null = null;
    let sawRoot = false;
    const align = (x: number): number => (x + 3) & ~3;
    for (;;) {
      if (o + 4 > end) throw new FdtError('device tree structure block ends without FDT_END');
      const tag = dv.getUint32(o);
      o += 4;
      if (tag === FDT_BEGIN_NODE) {
        const [name, next] = cstr(o, end);
        o = align(next);
        if (!cur) {
          if (sawRoot) throw new FdtError('device tree has more than one root node');
          sawRoot = true;
          cur = fdt.root;
        } else {
          const n: FdtNode = new FdtNode(name, cur);
          cur.children.push(n);
          cur = n;
        }
      } else if (tag === FDT_END_NODE) {
        if (!cur) throw new FdtError('unbalanced FDT_END_NODE');
        cur = cur.parent;
      } else if (tag === FDT_PROP) {
        if (!cur || o + 8 > end) throw new FdtError('property outside a node');
        const len = dv.getUint32(o);
        const nameOff = dv.getUint32(o + 4);
        o += 8;
        if (o + len > end || nameOff >= sizeStrings) throw new FdtError('property runs past the structure block');
        const [name] = cstr(offStrings + nameOff, offStrings + sizeStrings);
        cur.properties.push(new FdtProperty(name, blob.slice(o, o + len)));
        o = align(o + len);
      } else if (tag === FDT_NOP) {
        continue;
      } else if (tag === FDT_END) {
        if (cur) throw new FdtError('FDT_END inside a node');
        break;
      } else {
        throw new FdtError(`bad structure tag ${tag} at offset ${o - 4}`);
      }
    }
    if (!sawRoot) throw new FdtError('device tree has no root node');
    return fdt;
  }
}

class ByteWriter {
  private buf = new Uint8Array(4096);
  private len = 0;

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v;
  }

  u32(v: number): void {
    this.grow(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  align4(): void {
    while (this.len & 3) this.u8(0);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Strings block: appends new names; reuses an existing name or a suffix of one. */
class StringTable {
  private text = '';
  private readonly cache = new Map<string, number>();

  offsetOf(name: string): number {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const key = name + '\0';
    let off = this.text.indexOf(key);
    // A match must start a string or sit at a suffix of one: indexOf finds the
    // first occurrence of name+NUL, which is always a suffix of some entry.
    if (off < 0) {
      off = this.text.length;
      this.text += key;
    }
    this.cache.set(name, off);
    return off;
  }

  finish(): Uint8Array {
    return new TextEncoder().encode(this.text);
  }
}
