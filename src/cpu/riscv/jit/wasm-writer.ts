/**
 * A minimal WebAssembly binary writer: just what the block translator emits
 * (one module per block, and each hart's jump trampoline). Opcodes are named constants; sizes are LEB128.
 */

export enum Op {
  unreachable = 0x00,
  block = 0x02,
  loop = 0x03,
  if_ = 0x04,
  else_ = 0x05,
  end = 0x0b,
  br = 0x0c,
  br_if = 0x0d,
  br_table = 0x0e,
  return_ = 0x0f,
  call = 0x10,
  call_indirect = 0x11,
  return_call = 0x12,
  return_call_indirect = 0x13,
  drop = 0x1a,
  select = 0x1b,
  local_get = 0x20,
  local_set = 0x21,
  local_tee = 0x22,
  global_get = 0x23,
  i32_load = 0x28,
  i64_load = 0x29,
  f64_load = 0x2b,
  i32_store = 0x36,
  i32_load8_u = 0x2d,
  i32_load16_u = 0x2f,
  i32_store8 = 0x3a,
  i32_store16 = 0x3b,
  f64_store = 0x39,
  i64_load8_s = 0x30,
  i64_load8_u = 0x31,
  i64_load16_s = 0x32,
  i64_load16_u = 0x33,
  i64_load32_s = 0x34,
  i64_load32_u = 0x35,
  i64_store = 0x37,
  i64_store8 = 0x3c,
  i64_store16 = 0x3d,
  i64_store32 = 0x3e,
  i32_const = 0x41,
  i64_const = 0x42,
  f64_const = 0x44,
  i32_eqz = 0x45,
  i32_eq = 0x46,
  i32_ne = 0x47,
  i32_lt_s = 0x48,
  i32_lt_u = 0x49,
  i32_gt_u = 0x4b,
  i32_le_u = 0x4d,
  i32_ge_s = 0x4e,
  i32_ge_u = 0x4f,
  i64_eqz = 0x50,
  i64_eq = 0x51,
  i64_ne = 0x52,
  i64_lt_s = 0x53,
  i64_lt_u = 0x54,
  i64_gt_s = 0x55,
  i64_gt_u = 0x56,
  i64_ge_s = 0x59,
  i64_ge_u = 0x5a,
  f64_eq = 0x61,
  i32_clz = 0x67,
  i32_ctz = 0x68,
  i32_popcnt = 0x69,
  i32_add = 0x6a,
  i32_sub = 0x6b,
  i32_mul = 0x6c,
  i32_div_s = 0x6d,
  i32_div_u = 0x6e,
  i32_rem_s = 0x6f,
  i32_rem_u = 0x70,
  i32_and = 0x71,
  i32_or = 0x72,
  i32_shl = 0x74,
  i32_shr_s = 0x75,
  i32_shr_u = 0x76,
  i32_rotl = 0x77,
  i32_rotr = 0x78,
  i64_clz = 0x79,
  i64_ctz = 0x7a,
  i64_popcnt = 0x7b,
  i64_add = 0x7c,
  i64_sub = 0x7d,
  i64_mul = 0x7e,
  i64_div_s = 0x7f,
  i64_div_u = 0x80,
  i64_rem_s = 0x81,
  i64_rem_u = 0x82,
  i64_and = 0x83,
  i64_or = 0x84,
  i64_xor = 0x85,
  i64_shl = 0x86,
  i64_shr_s = 0x87,
  i64_shr_u = 0x88,
  i64_rotl = 0x89,
  i64_rotr = 0x8a,
  i32_wrap_i64 = 0xa7,
  i64_extend_i32_s = 0xac,
  i64_extend_i32_u = 0xad,
  i64_trunc_f64_s = 0xb0,
  f64_convert_i64_s = 0xb9,
  f64_convert_i32_u = 0xb8,
  f64_add = 0xa0,
  i64_extend8_s = 0xc2,
  i64_extend16_s = 0xc3,
  /** Prefix of the threads proposal's atomic instructions (atomic.fence is 0xfe 0x03 0x00). */
  atomic_prefix = 0xfe,
}

export const T_I32 = 0x7f;
export const T_I64 = 0x7e;
export const T_F64 = 0x7c;
/** Block type of a structured instruction without result. */
export const T_VOID = 0x40;

/** A growable byte buffer with the LEB128 encodings. */
export class Bytes {
  private buf: Uint8Array<ArrayBuffer> = new Uint8Array(1024);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
    return this;
  }
  /** Room for `n` more bytes. */
  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  op(o: Op): this {
    return this.byte(o);
  }
  uleb(v: number): this {
    // v < 2^53: arithmetic rather than bit operations, so values above 2^31 encode too.
    do {
      const b = v % 128;
      v = Math.floor(v / 128);
      this.byte(v !== 0 ? b | 0x80 : b);
    } while (v !== 0);
    return this;
  }
  sleb(v: number): this {
    // Any integer |v| <= 2^53 (constants are int32 or small pc offsets).
    for (;;) {
      const b = ((v % 128) + 128) % 128;
      v = Math.floor(v / 128);
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  i32(v: number): this {
    return this.op(Op.i32_const).sleb(v | 0);
  }
  i64(v: number): this {
    return this.op(Op.i64_const).sleb(v);
  }
  /** An i64.const of any 64-bit value (read as signed). */
  i64n(v: bigint): this {
    this.op(Op.i64_const);
    let x = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  get(l: number): this {
    return this.op(Op.local_get).uleb(l);
  }
  set(l: number): this {
    return this.op(Op.local_set).uleb(l);
  }
  tee(l: number): this {
    return this.op(Op.local_tee).uleb(l);
  }
  /** A memory access with alignment hint `align` (log2) at constant offset `off` (u32). */
  mem(o: Op, align: number, off: number): this {
    return this.op(o).uleb(align).uleb(off);
  }
  bytes(b: Bytes | Uint8Array | readonly number[]): this {
    const src = b instanceof Bytes ? b.view() : b;
    if (this.length + src.length > this.buf.length) this.grow(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
    return this;
  }
  str(s: string): this {
    this.uleb(s.length);
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
    return this;
  }
  /** A section: id, then its contents prefixed by their size. */
  section(id: number, body: Bytes): this {
    this.byte(id).uleb(body.length);
    return this.bytes(body);
  }
  view(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.length);
  }
}

/** Structured control with named labels: a branch's depth is computed from the stack of open blocks. */
export class Labels {
  private readonly stack: string[] = [];
  constructor(readonly c: Bytes) {}
  open(op: Op, label: string, type = T_VOID): this {
    this.c.op(op).byte(type);
    this.stack.push(label);
    return this;
  }
  end(): this {
    this.c.op(Op.end);
    this.stack.pop();
    return this;
  }
  br(label: string, op: Op = Op.br): this {
    const i = this.stack.lastIndexOf(label);
    if (i < 0) throw new Error(`no label ${label}`);
    this.c.op(op).uleb(this.stack.length - 1 - i);
    return this;
  }
}
