/**
 * 9P2000.L on the wire: a pure parser of T-messages and a writer of
 * R-messages. Nothing here touches the host; the parser only checks that a
 * message is well formed (sizes, string lengths, counts) and hands back a
 * typed request or a typed failure, so the server can answer a malformed
 * message with Rlerror instead of guessing.
 *
 * Every message is size[4] type[1] tag[2] body, little-endian; strings are
 * len[2] bytes (UTF-8, no NUL); a qid is type[1] version[4] path[8].
 */

export const P9_TLERROR = 6;
export const P9_RLERROR = 7;
export const P9_TSTATFS = 8;
export const P9_TLOPEN = 12;
export const P9_TLCREATE = 14;
export const P9_TSYMLINK = 16;
export const P9_TMKNOD = 18;
export const P9_TRENAME = 20;
export const P9_TREADLINK = 22;
export const P9_TGETATTR = 24;
export const P9_TSETATTR = 26;
export const P9_TXATTRWALK = 30;
export const P9_TXATTRCREATE = 32;
export const P9_TREADDIR = 40;
export const P9_TFSYNC = 50;
export const P9_TLOCK = 52;
export const P9_TGETLOCK = 54;
export const P9_TLINK = 70;
export const P9_TMKDIR = 72;
export const P9_TRENAMEAT = 74;
export const P9_TUNLINKAT = 76;
export const P9_TVERSION = 100;
export const P9_TAUTH = 102;
export const P9_TATTACH = 104;
export const P9_TFLUSH = 108;
export const P9_TWALK = 110;
export const P9_TREAD = 116;
export const P9_TWRITE = 118;
export const P9_TCLUNK = 120;
export const P9_TREMOVE = 122;

/** size[4] type[1] tag[2]. */
export const P9_HDR = 7;
/** The most names one Twalk may carry (the protocol's MAXWELEM). */
export const P9_MAXWELEM = 16;
export const P9_NOFID = 0xffffffff;
export const P9_NOTAG = 0xffff;

export const QTDIR = 0x80;
export const QTSYMLINK = 0x02;
export const QTFILE = 0;

/** Tsetattr valid bits. */
export const SETATTR_MODE = 0x1;
export const SETATTR_UID = 0x2;
export const SETATTR_GID = 0x4;
export const SETATTR_SIZE = 0x8;
export const SETATTR_ATIME = 0x10;
export const SETATTR_MTIME = 0x20;
export const SETATTR_CTIME = 0x40;
export const SETATTR_ATIME_SET = 0x80;
export const SETATTR_MTIME_SET = 0x100;

/** Rgetattr: the basic fields (mode .. blocks) are always valid. */
export const GETATTR_BASIC = 0x7ff;

export interface Qid {
  type: number;
  version: number;
  /** The host inode number (exact below 2^53). */
  path: number;
}

export type TRequest =
  | { type: typeof P9_TVERSION; tag: number; msize: number; version: string }
  | { type: typeof P9_TAUTH; tag: number; afid: number; uname: string; aname: string; nUname: number }
  | { type: typeof P9_TATTACH; tag: number; fid: number; afid: number; uname: string; aname: string; nUname: number }
  | { type: typeof P9_TFLUSH; tag: number; oldtag: number }
  | { type: typeof P9_TWALK; tag: number; fid: number; newfid: number; names: string[] }
  | { type: typeof P9_TREAD; tag: number; fid: number; offset: number; count: number }
  | { type: typeof P9_TWRITE; tag: number; fid: number; offset: number; data: Uint8Array }
  | { type: typeof P9_TCLUNK; tag: number; fid: number }
  | { type: typeof P9_TREMOVE; tag: number; fid: number }
  | { type: typeof P9_TSTATFS; tag: number; fid: number }
  | { type: typeof P9_TLOPEN; tag: number; fid: number; flags: number }
  | { type: typeof P9_TLCREATE; tag: number; fid: number; name: string; flags: number; mode: number; gid: number }
  | { type: typeof P9_TSYMLINK; tag: number; fid: number; name: string; target: string; gid: number }
  | { type: typeof P9_TMKNOD; tag: number; fid: number; name: string; mode: number; major: number; minor: number; gid: number }
  | { type: typeof P9_TRENAME; tag: number; fid: number; dfid: number; name: string }
  | { type: typeof P9_TREADLINK; tag: number; fid: number }
  | { type: typeof P9_TGETATTR; tag: number; fid: number; mask: number }
  | {
      type: typeof P9_TSETATTR;
      tag: number;
      fid: number;
      valid: number;
      mode: number;
      uid: number;
      gid: number;
      size: number;
      atimeSec: number;
      atimeNsec: number;
      mtimeSec: number;
      mtimeNsec: number;
    }
  | { type: typeof P9_TXATTRWALK; tag: number; fid: number; newfid: number; name: string }
  | { type: typeof P9_TXATTRCREATE; tag: number; fid: number; name: string; size: number; flags: number }
  | { type: typeof P9_TREADDIR; tag: number; fid: number; offset: number; count: number }
  | { type: typeof P9_TFSYNC; tag: number; fid: number; datasync: number }
  | { type: typeof P9_TLOCK; tag: number; fid: number; lockType: number; flags: number; start: number; length: number; procId: number; clientId: string }
  | { type: typeof P9_TGETLOCK; tag: number; fid: number; lockType: number; start: number; length: number; procId: number; clientId: string }
  | { type: typeof P9_TLINK; tag: number; dfid: number; fid: number; name: string }
  | { type: typeof P9_TMKDIR; tag: number; dfid: number; name: string; mode: number; gid: number }
  | { type: typeof P9_TRENAMEAT; tag: number; olddirfid: number; oldname: string; newdirfid: number; newname: string }
  | { type: typeof P9_TUNLINKAT; tag: number; dirfid: number; name: string; flags: number };

/** Why a message could not be parsed. */
export type ParseFailure =
  /** Fewer than 7 bytes, or the size field disagrees with the bytes received. */
  | 'bad-size'
  /** The size field exceeds the negotiated msize. */
  | 'too-big'
  /** A field or string runs past the end of the message. */
  | 'truncated'
  /** Bytes left over after the last field. */
  | 'trailing-bytes'
  /** A string that is not valid UTF-8 or contains NUL. */
  | 'bad-string'
  /** Twalk with more than MAXWELEM names. */
  | 'too-many-names'
  /** A message type this server does not implement (or an R-message). */
  | 'unknown-type';

export type ParseResult = { ok: true; req: TRequest } | { ok: false; reason: ParseFailure; tag: number; type: number };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

class Reader {
  pos = P9_HDR;
  constructor(
    private readonly b: Uint8Array,
    private readonly dv: DataView,
    private readonly end: number,
  ) {}
  private need(n: number): void {
    if (this.pos + n > this.end) throw new WireError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A 64-bit field as a JS number; values past 2^53 saturate to MAX_SAFE_INTEGER (never a real offset). */
  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
  }
  str(): string {
    const n = this.u16();
    this.need(n);
    const bytes = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (bytes.includes(0)) throw new WireError('bad-string');
    try {
      return utf8.decode(bytes);
    } catch {
      throw new WireError('bad-string');
    }
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  left(): number {
    return this.end - this.pos;
  }
  done(): void {
    if (this.pos !== this.end) throw new WireError('trailing-bytes');
  }
}

class WireError extends Error {
  constructor(readonly reason: ParseFailure) {
    super(reason);
  }
}

/**
 * Parse one T-message. `msg` holds exactly the bytes the guest sent (the
 * size field must match its length); `msize` is the negotiated maximum.
 * Twrite's data is a view into `msg`, not a copy.
 */
export function parseTMessage(msg: Uint8Array, msize: number): ParseResult {
  if (msg.length < P9_HDR) return { ok: false, reason: 'bad-size', tag: P9_NOTAG, type: 0 };
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const size = dv.getUint32(0, true);
  const type = msg[4]!;
  const tag = dv.getUint16(5, true);
  if (size !== msg.length) return { ok: false, reason: 'bad-size', tag, type };
  if (size > msize) return { ok: false, reason: 'too-big', tag, type };
  const r = new Reader(msg, dv, size);
  try {
    const req = body(r, type, tag);
    if (!req) return { ok: false, reason: 'unknown-type', tag, type };
    r.done();
    return { ok: true, req };
  } catch (e) {
    if (e instanceof WireError) return { ok: false, reason: e.reason, tag, type };
    throw e;
  }
}

function body(r: Reader, type: number, tag: number): TRequest | null {
  switch (type) {
    case P9_TVERSION:
      return { type, tag, msize: r.u32(), version: r.str() };
    case P9_TAUTH:
      return { type, tag, afid: r.u32(), uname: r.str(), aname: r.str(), nUname: r.u32() };
    case P9_TATTACH:
      return { type, tag, fid: r.u32(), afid: r.u32(), uname: r.str(), aname: r.str(), nUname: r.u32() };
    case P9_TFLUSH:
      return { type, tag, oldtag: r.u16() };
    case P9_TWALK: {
      const fid = r.u32();
      const newfid = r.u32();
      const n = r.u16();
      if (n > P9_MAXWELEM) throw new WireError('too-many-names');
      const names: string[] = [];
      for (let i = 0; i < n; i++) names.push(r.str());
      return { type, tag, fid, newfid, names };
    }
    case P9_TREAD:
      return { type, tag, fid: r.u32(), offset: r.u64(), count: r.u32() };
    case P9_TWRITE: {
      const fid = r.u32();
      const offset = r.u64();
      const count = r.u32();
      return { type, tag, fid, offset, data: r.bytes(count) };
    }
    case P9_TCLUNK:
    case P9_TREMOVE:
    case P9_TSTATFS:
    case P9_TREADLINK:
      return { type, tag, fid: r.u32() };
    case P9_TLOPEN:
      return { type, tag, fid: r.u32(), flags: r.u32() };
    case P9_TLCREATE:
      return { type, tag, fid: r.u32(), name: r.str(), flags: r.u32(), mode: r.u32(), gid: r.u32() };
    case P9_TSYMLINK:
      return { type, tag, fid: r.u32(), name: r.str(), target: r.str(), gid: r.u32() };
    case P9_TMKNOD:
      return { type, tag, fid: r.u32(), name: r.str(), mode: r.u32(), major: r.u32(), minor: r.u32(), gid: r.u32() };
    case P9_TRENAME:
      return { type, tag, fid: r.u32(), dfid: r.u32(), name: r.str() };
    case P9_TGETATTR:
      return { type, tag, fid: r.u32(), mask: r.u64() };
    case P9_TSETATTR:
      return {
        type,
        tag,
        fid: r.u32(),
        valid: r.u32(),
        mode: r.u32(),
        uid: r.u32(),
        gid: r.u32(),
        size: r.u64(),
        atimeSec: r.u64(),
        atimeNsec: r.u64(),
        mtimeSec: r.u64(),
        mtimeNsec: r.u64(),
      };
    case P9_TXATTRWALK:
      return { type, tag, fid: r.u32(), newfid: r.u32(), name: r.str() };
    case P9_TXATTRCREATE:
      return { type, tag, fid: r.u32(), name: r.str(), size: r.u64(), flags: r.u32() };
    case P9_TREADDIR:
      return { type, tag, fid: r.u32(), offset: r.u64(), count: r.u32() };
    case P9_TFSYNC: {
      const fid = r.u32();
      // Older clients send only the fid; newer ones add datasync[4].
      const datasync = r.left() > 0 ? r.u32() : 0;
      return { type, tag, fid, datasync };
    }
    case P9_TLOCK:
      return { type, tag, fid: r.u32(), lockType: r.u8(), flags: r.u32(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.str() };
    case P9_TGETLOCK:
      return { type, tag, fid: r.u32(), lockType: r.u8(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.str() };
    case P9_TLINK:
      return { type, tag, dfid: r.u32(), fid: r.u32(), name: r.str() };
    case P9_TMKDIR:
      return { type, tag, dfid: r.u32(), name: r.str(), mode: r.u32(), gid: r.u32() };
    case P9_TRENAMEAT:
      return { type, tag, olddirfid: r.u32(), oldname: r.str(), newdirfid: r.u32(), newname: r.str() };
    case P9_TUNLINKAT:
      return { type, tag, dirfid: r.u32(), name: r.str(), flags: r.u32() };
    default:
      return null;
  }
}

/**
 * Builds one R-message in a caller-owned buffer (the server reuses one of
 * msize bytes). `finish()` writes the size field and returns the message.
 * Writes past the buffer throw RangeError from DataView: the server sizes
 * every reply against msize before writing it.
 */
export class RWriter {
  private readonly dv: DataView;
  pos = P9_HDR;
  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  begin(type: number, tag: number): this {
    this.buf[4] = type;
    this.dv.setUint16(5, tag, true);
    this.pos = P9_HDR;
    return this;
  }
  u8(v: number): this {
    this.dv.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.dv.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    const x = v < 0 ? 0 : v;
    this.dv.setUint32(this.pos, x % 0x100000000, true);
    this.dv.setUint32(this.pos + 4, Math.floor(x / 0x100000000), true);
    this.pos += 8;
    return this;
  }
  str(s: string): this {
    const b = utf8enc.encode(s);
    this.u16(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  qid(q: Qid): this {
    return this.u8(q.type).u32(q.version).u64(q.path);
  }
  /** Reserve `n` bytes for the caller to fill in place (Rread data). */
  reserve(n: number): Uint8Array {
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  finish(): Uint8Array {
    this.dv.setUint32(0, this.pos, true);
    return this.buf.subarray(0, this.pos);
  }
}

/** Bytes a string takes on the wire. */
export function strSize(s: string): number {
  return 2 + utf8enc.encode(s).length;
}

/** Helpers for tests and fuzzers: build a T-message from fields. */
export class TBuilder {
  private parts: number[] = [];
  constructor(
    private readonly type: number,
    private readonly tag: number,
  ) {}
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    this.parts.push(v & 0xff, (v >>> 8) & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number): this {
    return this.u32(v % 0x100000000).u32(Math.floor(v / 0x100000000));
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? utf8enc.encode(s) : s;
    this.u16(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  build(): Uint8Array {
    const size = P9_HDR + this.parts.length;
    const out = new Uint8Array(size);
    new DataView(out.buffer).setUint32(0, size, true);
    out[4] = this.type;
    new DataView(out.buffer).setUint16(5, this.tag, true);
    out.set(this.parts, P9_HDR);
    return out;
  }
}
