/**
 * Sdtrig trigger module as QEMU 7.2's riscv64 CPUs have it: two triggers
 * selected by tselect (0x7a0), each an address match trigger programmed
 * through tdata1 (mcontrol, type 2, or mcontrol6, type 6) and tdata2 (the
 * address); tdata3 reads 0 and ignores writes; tinfo (0x7a4) reads 0x44
 * (types 2 and 6); tcontrol (0x7a5) does not exist. Only the execute/load/store
 * enables, the U/S/M privilege bits and the access size are kept: match, chain,
 * action, timing, select, hit and dmode read back as 0, so a hit always raises
 * a breakpoint exception (mcause 3) before the instruction or access, with
 * mtval 0. A write of any other type to tdata1 is ignored. (Observed on QEMU
 * 7.2 by test/gdbstub/sdtrig-probe.S.)
 *
 * The same matcher serves the debugger's hardware breakpoints and
 * watchpoints (a separate bank the guest cannot see, src/cpu/riscv/debug.ts).
 */

export const TRIGGER_COUNT = 2;

export const CSR_TSELECT = 0x7a0;
export const CSR_TDATA1 = 0x7a1;
export const CSR_TDATA2 = 0x7a2;
export const CSR_TDATA3 = 0x7a3;
export const CSR_TINFO = 0x7a4;

/** Access kinds of a match (mcontrol's load/store/execute bit order). */
export const MATCH_LOAD = 1;
export const MATCH_STORE = 2;
export const MATCH_EXEC = 4;

const TYPE_SHIFT = 60n;
const TYPE_MCONTROL = 2n;
const TYPE_MCONTROL6 = 6n;
/** load, store, execute, U, S, M. */
const KEEP_BITS = 0x5fn;
const SIZELO = 3n << 16n;
const SIZEHI = 3n << 21n;
const SIZE6 = 0xfn << 16n;
const RESET_TDATA1 = TYPE_MCONTROL << TYPE_SHIFT;

/** Bytes matched for each size encoding; 0: any size (8 bytes are watched); -1: unsupported. */
const SIZE_BYTES = [0, 1, 2, 4, -1, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1];

/**
 * A bank of address match triggers in decoded form: access kinds, privilege
 * mask (bit n set = fires in privilege n), address, watched length.
 */
export class MatchBank {
  readonly kinds: Uint8Array;
  readonly privs: Uint8Array;
  readonly addrs: bigint[];
  readonly lens: Uint8Array;
  /** Access kinds any entry watches (0: nothing armed). */
  armed = 0;

  constructor(readonly size: number) {
    this.kinds = new Uint8Array(size);
    this.privs = new Uint8Array(size);
    this.addrs = new Array<bigint>(size).fill(0n);
    this.lens = new Uint8Array(size);
  }

  set(i: number, kinds: number, privs: number, addr: bigint, len: number): void {
    this.kinds[i] = kinds;
    this.privs[i] = privs;
    this.addrs[i] = BigInt.asUintN(64, addr);
    this.lens[i] = len;
    let a = 0;
    for (let j = 0; j < this.size; j++) if (this.privs[j] !== 0) a |= this.kinds[j]!;
    this.armed = a;
  }

  /** The first entry firing for an instruction at `pc` in privilege `priv`, or -1. */
  matchExec(pc: bigint, priv: number): number {
    if ((this.armed & MATCH_EXEC) === 0) return -1;
    for (let i = 0; i < this.size; i++) {
      if ((this.kinds[i]! & MATCH_EXEC) !== 0 && ((this.privs[i]! >> priv) & 1) !== 0 && this.addrs[i] === pc) return i;
    }
    return -1;
  }

  /** The first entry whose watched bytes overlap [addr, addr + size) for a load or store, or -1. */
  matchData(addr: bigint, size: number, write: boolean, priv: number): number {
    const kind = write ? MATCH_STORE : MATCH_LOAD;
    if ((this.armed & kind) === 0) return -1;
    for (let i = 0; i < this.size; i++) {
      if ((this.kinds[i]! & kind) === 0 || ((this.privs[i]! >> priv) & 1) === 0) continue;
      const a = this.addrs[i]!;
      if (addr < a + BigInt(this.lens[i]!) && a < addr + BigInt(size)) return i;
    }
    return -1;
  }
}

/** The guest-visible trigger CSRs of one hart. */
export class Triggers {
  tselect = 0;
  readonly tdata1: bigint[] = new Array<bigint>(TRIGGER_COUNT).fill(RESET_TDATA1);
  readonly tdata2: bigint[] = new Array<bigint>(TRIGGER_COUNT).fill(0n);
  readonly bank = new MatchBank(TRIGGER_COUNT);

  /**
   * @param onChange called after a write changes what is armed, so the hart's
   *   debug hooks can be switched on or off.
   */
  constructor(private readonly onChange: () => void = () => {}) {}

  reset(): void {
    this.tselect = 0;
    for (let i = 0; i < TRIGGER_COUNT; i++) {
      this.tdata1[i] = RESET_TDATA1;
      this.tdata2[i] = 0n;
      this.bank.set(i, 0, 0, 0n, 0);
    }
    this.onChange();
  }

  /** Whether `csr` is one of ours (0x7a0-0x7a4). */
  static has(csr: number): boolean {
    return csr >= CSR_TSELECT && csr <= CSR_TINFO;
  }

  /** CSR read; null: the CSR does not exist (illegal instruction). */
  read(csr: number): bigint | null {
    switch (csr) {
      case CSR_TSELECT:
        return BigInt(this.tselect);
      case CSR_TDATA1:
        return this.tdata1[this.tselect]!;
      case CSR_TDATA2:
        return this.tdata2[this.tselect]!;
      case CSR_TDATA3:
        return 0n;
      case CSR_TINFO:
        return (1n << TYPE_MCONTROL) | (1n << TYPE_MCONTROL6);
      default:
        return null;
    }
  }

  /** CSR write; false: the CSR does not exist (illegal instruction). */
  write(csr: number, v: bigint): boolean {
    const i = this.tselect;
    switch (csr) {
      case CSR_TSELECT:
        if (v < BigInt(TRIGGER_COUNT)) this.tselect = Number(v);
        return true;
      case CSR_TDATA1: {
        const type = v >> TYPE_SHIFT;
        if (type !== TYPE_MCONTROL && type !== TYPE_MCONTROL6) return true;
        let nv = (type << TYPE_SHIFT) | (v & KEEP_BITS);
        const size = type === TYPE_MCONTROL ? Number(((v >> 21n) & 3n) << 2n) | Number((v >> 16n) & 3n) : Number((v >> 16n) & 0xfn);
        if (SIZE_BYTES[size] !== -1) nv |= type === TYPE_MCONTROL ? v & (SIZELO | SIZEHI) : v & SIZE6;
        this.tdata1[i] = nv;
        this.decode(i);
        return true;
      }
      case CSR_TDATA2:
        this.tdata2[i] = v;
        this.decode(i);
        return true;
      case CSR_TDATA3:
        return true;
      case CSR_TINFO:
        return true; // read-only: writes are ignored, as in QEMU 7.2
      default:
        return false;
    }
  }

  private decode(i: number): void {
    const t = this.tdata1[i]!;
    const type = t >> TYPE_SHIFT;
    const size = type === TYPE_MCONTROL ? Number(((t >> 21n) & 3n) << 2n) | Number((t >> 16n) & 3n) : Number((t >> 16n) & 0xfn);
    const len = SIZE_BYTES[size]! > 0 ? SIZE_BYTES[size]! : 8;
    const kinds = Number(t & 7n);
    const privs = Number((t >> 3n) & 0xbn);
    this.bank.set(i, privs !== 0 ? kinds : 0, kinds !== 0 ? privs : 0, this.tdata2[i]!, len);
    this.onChange();
  }
}
