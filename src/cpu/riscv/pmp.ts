import { PRV_M } from './constants.js';

/** Access kinds, shared with the MMU. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;

const PMP_R = 1;
const PMP_W = 2;
const PMP_X = 4;
const PMP_A_SHIFT = 3;
const PMP_L = 0x80;
const A_OFF = 0;
const A_TOR = 1;
const A_NA4 = 2;
const A_NAPOT = 3;

/** pmpaddr holds address bits 55:2. */
const PMPADDR_MAX = 2 ** 54;

/**
 * Physical memory protection (priv. spec 3.7). Entry ranges are kept as
 * half-open [start, end) JS numbers, recomputed on every CSR write, so a check
 * is a linear scan over at most `count` entries. Addresses are below 2^56, so
 * numbers are exact up to the 2^53 limit of the memory core; larger ranges
 * simply never match a decodable address.
 */
export class Pmp {
  readonly cfg: Uint8Array;
  readonly addr: Float64Array;
  /** pmpaddr as written (54 bits): Float64 cannot hold 2^54 - 1, which OpenSBI writes and reads back. */
  private readonly addrBits: BigUint64Array;
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  /** True when some entry is enabled (A != OFF). */
  active = false;
  /** True when some entry is locked (then M-mode is checked too). */
  locked = false;

  constructor(readonly count: number) {
    this.cfg = new Uint8Array(count);
    this.addr = new Float64Array(count);
    this.addrBits = new BigUint64Array(count);
    this.start = new Float64Array(count);
    this.end = new Float64Array(count);
  }

  reset(): void {
    this.cfg.fill(0);
    this.addr.fill(0);
    this.addrBits.fill(0n);
    this.recompute();
  }

  /** pmpcfgN (N even) as a 64-bit value: entries 4N..4N+7. */
  readCfg(reg: number): bigint {
    let v = 0n;
    for (let i = 0; i < 8; i++) {
      const e = reg * 4 + i;
      if (e < this.count) v |= BigInt(this.cfg[e]!) << BigInt(8 * i);
    }
    return v;
  }

  writeCfg(reg: number, value: bigint): void {
    for (let i = 0; i < 8; i++) {
      const e = reg * 4 + i;
      if (e >= this.count) continue;
      if (this.cfg[e]! & PMP_L) continue;
      // Bits 6:5 are reserved (zero); R=0/W=1 is kept as written, like QEMU 7.2.
      this.cfg[e] = Number((value >> BigInt(8 * i)) & 0x9fn);
    }
    this.recompute();
  }

  readAddr(i: number): bigint {
    return this.addrBits[i]!;
  }

  writeAddr(i: number, value: bigint): void {
    if (this.cfg[i]! & PMP_L) return;
    // A locked TOR entry also locks the address below it.
    if (i + 1 < this.count && (this.cfg[i + 1]! & PMP_L) && ((this.cfg[i + 1]! >> PMP_A_SHIFT) & 3) === A_TOR) return;
    this.addrBits[i] = value & ((1n << 54n) - 1n);
    this.addr[i] = Number(this.addrBits[i]!);
    this.recompute();
  }

  private recompute(): void {
    this.active = false;
    this.locked = false;
    for (let i = 0; i < this.count; i++) {
      const c = this.cfg[i]!;
      const a = (c >> PMP_A_SHIFT) & 3;
      const pa = this.addr[i]!;
      let s = 0;
      let e = 0;
      if (a === A_TOR) {
        s = i === 0 ? 0 : this.addr[i - 1]! * 4;
        e = pa * 4;
      } else if (a === A_NA4) {
        s = pa * 4;
        e = s + 4;
      } else if (a === A_NAPOT) {
        // Exact bit arithmetic: a Float64 pmpaddr rounds 2^54 - 1 (the whole space) up to 2^54.
        const bits = this.addrBits[i]!;
        let t = 0;
        while (t < 54 && ((bits >> BigInt(t)) & 1n) === 1n) t++;
        if (t >= 54) {
          s = 0;
          e = PMPADDR_MAX * 4;
        } else {
          const base = (bits >> BigInt(t + 1)) << BigInt(t + 1);
          s = Number(base) * 4;
          e = s + 2 ** (t + 3);
        }
      }
      this.start[i] = s;
      this.end[i] = e;
      if (a !== A_OFF) this.active = true;
      if (c & PMP_L) this.locked = true;
    }
  }

  /** May [pa, pa + size) be accessed with `acc` at privilege `priv`? */
  check(pa: number, size: number, priv: number, acc: number): boolean {
    if (priv === PRV_M && !this.locked) return true;
    const last = pa + size;
    for (let i = 0; i < this.count; i++) {
      const c = this.cfg[i]!;
      if (((c >> PMP_A_SHIFT) & 3) === A_OFF) continue;
      const s = this.start[i]!;
      const e = this.end[i]!;
      if (last <= s || pa >= e) continue;
      // A partial match fails the access (priv. spec: all bytes must match the same entry).
      if (pa < s || last > e) return false;
      if (priv === PRV_M && !(c & PMP_L)) return true;
      return (c & (acc === ACC_READ ? PMP_R : acc === ACC_WRITE ? PMP_W : PMP_X)) !== 0;
    }
    return priv === PRV_M;
  }

  /**
   * Whether the whole 4 KiB page at `page` is allowed with one uniform answer,
   * so a TLB may cache it. False when the page is denied or only partly covered.
   */
  pageAllowed(page: number, priv: number, acc: number): boolean {
    if (priv === PRV_M && !this.locked) return true;
    const last = page + 4096;
    for (let i = 0; i < this.count; i++) {
      const c = this.cfg[i]!;
      if (((c >> PMP_A_SHIFT) & 3) === A_OFF) continue;
      const s = this.start[i]!;
      const e = this.end[i]!;
      if (last <= s || page >= e) continue;
      if (page < s || last > e) return false;
      if (priv === PRV_M && !(c & PMP_L)) return true;
      return (c & (acc === ACC_READ ? PMP_R : acc === ACC_WRITE ? PMP_W : PMP_X)) !== 0;
    }
    return priv === PRV_M;
  }
}
