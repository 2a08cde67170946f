/**
 * Debug support for one hart: the hooks a hart calls while anything watches
 * it (a debugger's breakpoints, watchpoints and single-step; the guest's own
 * Sdtrig triggers), and side-effect-free address translation for a debugger.
 *
 * The contract with the hart (hart.ts, and any faster engine that replaces
 * it): while `hart.debug` is non-null the hart runs instruction by
 * instruction, calls beforeInstruction() before each one (true: stop before
 * executing it and return from the run loop) and onDataAccess() on every
 * load and store before the access (true: stop after the instruction).
 * A guest trigger that fires raises the breakpoint exception from inside the
 * hook (hart.raise), exactly as a page fault raised by a load would.
 * When nothing is armed `hart.debug` is null and the hart runs at full speed.
 */
import type { PhysMemory } from '../../memory/types.js';
import { MEMTX_OK, memTxAttrs } from '../../memory/types.js';
import { CAUSE_BREAKPOINT, MSTATUS_MPP_SHIFT, MSTATUS_MPRV, PRV_M } from './constants.js';
import { MATCH_EXEC, MATCH_LOAD, MATCH_STORE, MatchBank, type Triggers } from './triggers.js';
import { expandCompressed } from './rvc.js';

export interface HartDebugHooks {
  beforeInstruction(): boolean;
  onDataAccess(vaddr: bigint, size: number, write: boolean): boolean;
}

/** What debugging needs of a hart (src/cpu/riscv/hart.ts's Hart has it). */
export interface DebuggableHart {
  readonly hartId: number;
  readonly mem: PhysMemory;
  debug: HartDebugHooks | null;
  priv: number;
  mstatus: number;
  satp: bigint;
  steps: number;
  readonly triggers: Triggers;
  getPc(): bigint;
  getX(i: number): bigint;
  raise(cause: number, tval: bigint): never;
  flushTlb(): void;
}

/** Why a hart stopped for the debugger. */
export type DebugStop =
  | { kind: 'breakpoint'; hw: boolean }
  | { kind: 'step' }
  | { kind: 'watch'; access: 'watch' | 'rwatch' | 'awatch'; addr: bigint };

export type WatchKind = 'write' | 'read' | 'access';

/** Hardware breakpoints plus watchpoints a debugger may hold per hart (gdb falls back to software ones beyond). */
export const DEBUGGER_SLOTS = 32;
/** The debugger's hardware breakpoints and watchpoints fire in every privilege mode. */
const ALL_PRIVS = 0b1011;

/**
 * The debug state of one hart: the debugger's breakpoints, watchpoints and
 * single-step, and the switch that turns the hart's hooks on while anything
 * (including the guest's own triggers) is armed.
 */
export class HartDebug implements HartDebugHooks {
  private static readonly all = new WeakMap<DebuggableHart, HartDebug>();

  /** The HartDebug of `hart`, created on first use. */
  static of(hart: DebuggableHart): HartDebug {
    let d = HartDebug.all.get(hart);
    if (d === undefined) {
      d = new HartDebug(hart);
      HartDebug.all.set(hart, d);
    }
    return d;
  }

  /** Software breakpoints (gdb's Z0): stop before the instruction at the address. */
  readonly softBreaks = new Set<bigint>();
  /** Hardware breakpoints (Z1) and watchpoints (Z2-Z4), matched as guest triggers are. */
  readonly bank = new MatchBank(DEBUGGER_SLOTS);
  private readonly watchKinds: WatchKind[] = new Array<WatchKind>(DEBUGGER_SLOTS).fill('write');
  /** Execute exactly one instruction, then stop. */
  private stepping = false;
  /** The first instruction after a resume does not re-hit a breakpoint at its own address. */
  private resumed = false;
  /** Why the hart last stopped (cleared on resume). */
  stop: DebugStop | null = null;
  /** Told whenever the hart stops for the debugger (from inside the hart's run loop: set flags only). */
  onStop: ((d: HartDebug) => void) | null = null;

  /** Instruction reads for decoding watched accesses (cached per page). */
  private readonly fetcher: DebugFetcher;

  private constructor(readonly hart: DebuggableHart) {
    this.fetcher = new DebugFetcher(hart);
  }

  /** Switch the hart's hooks on when anything is armed, off otherwise. */
  update(): void {
    const on =
      this.stepping || this.resumed || this.softBreaks.size > 0 || this.bank.armed !== 0 || this.hart.triggers.bank.armed !== 0;
    if (on && this.hart.debug === null) {
      this.hart.debug = this;
      // Cached data translations would bypass onDataAccess.
      this.hart.flushTlb();
    } else if (!on && this.hart.debug !== null) this.hart.debug = null;
  }

  /** Resume: run freely (step = false) or for one instruction. */
  resume(step: boolean): void {
    this.stop = null;
    this.stepping = step;
    this.resumed = true;
    this.update();
  }

  insertBreak(addr: bigint, hw: boolean): boolean {
    const a = BigInt.asUintN(64, addr);
    if (!hw) {
      this.softBreaks.add(a);
      this.update();
      return true;
    }
    return this.insertSlot(MATCH_EXEC, a, 1, 'write');
  }

  removeBreak(addr: bigint, hw: boolean): boolean {
    const a = BigInt.asUintN(64, addr);
    if (!hw) {
      const had = this.softBreaks.delete(a);
      this.update();
      return had;
    }
    return this.removeSlot(MATCH_EXEC, a, 1);
  }

  insertWatch(addr: bigint, len: number, kind: WatchKind): boolean {
    if (!(len >= 1 && len <= 255)) return false;
    return this.insertSlot(watchMatch(kind), BigInt.asUintN(64, addr), len, kind);
  }

  removeWatch(addr: bigint, len: number, kind: WatchKind): boolean {
    return this.removeSlot(watchMatch(kind), BigInt.asUintN(64, addr), len);
  }

  /** Drop every debugger breakpoint and watchpoint and any pending step (a detach). */
  clear(): void {
    this.softBreaks.clear();
    for (let i = 0; i < DEBUGGER_SLOTS; i++) this.bank.set(i, 0, 0, 0n, 0);
    this.stepping = false;
    this.resumed = false;
    this.stop = null;
    this.update();
  }

  private insertSlot(kinds: number, addr: bigint, len: number, kind: WatchKind): boolean {
    for (let i = 0; i < DEBUGGER_SLOTS; i++) {
      if (this.bank.privs[i] !== 0) continue;
      this.bank.set(i, kinds, ALL_PRIVS, addr, len);
      this.watchKinds[i] = kind;
      this.update();
      return true;
    }
    return false;
  }

  private removeSlot(kinds: number, addr: bigint, len: number): boolean {
    for (let i = 0; i < DEBUGGER_SLOTS; i++) {
      if (this.bank.privs[i] === 0 || this.bank.kinds[i] !== kinds || this.bank.addrs[i] !== addr || this.bank.lens[i] !== len) continue;
      this.bank.set(i, 0, 0, 0n, 0);
      this.update();
      return true;
    }
    return false;
  }

  private stopWith(s: DebugStop): true {
    this.stop = s;
    this.stepping = false;
    this.onStop?.(this);
    return true;
  }

  beforeInstruction(): boolean {
    const pc = this.hart.getPc();
    const first = this.resumed;
    if (first) {
      this.resumed = false;
      this.update();
    }
    if (this.stepping && !first) return this.stopWith({ kind: 'step' });
    if (!first) {
      if (this.softBreaks.has(pc)) return this.stopWith({ kind: 'breakpoint', hw: false });
      if (this.bank.matchExec(pc, PRV_M) >= 0) return this.stopWith({ kind: 'breakpoint', hw: true });
      if ((this.bank.armed & (MATCH_LOAD | MATCH_STORE)) !== 0) {
        const w = this.watchHit(pc);
        if (w !== null) return this.stopWith(w);
      }
    }
    const g = this.hart.triggers.bank;
    if (g.armed !== 0 && g.matchExec(pc, this.hart.priv) >= 0) {
      // The instruction counts as attempted and trapped, as one that faults does.
      this.hart.steps++;
      this.hart.raise(CAUSE_BREAKPOINT, 0n);
    }
    return false;
  }

  onDataAccess(vaddr: bigint, size: number, write: boolean): boolean {
    const g = this.hart.triggers.bank;
    // The guest's trigger fires before the access (QEMU's BP_STOP_BEFORE_ACCESS), mtval 0.
    if (g.armed !== 0 && g.matchData(vaddr, size, write, this.hart.priv) >= 0) this.hart.raise(CAUSE_BREAKPOINT, 0n);
    return false;
  }

  /**
   * The debugger's watchpoints stop before the access, with the instruction
   * not yet executed, as QEMU 7.2 reports them (gdb then steps over it with
   * the watchpoint removed and compares values): the instruction at pc is
   * decoded here to find its access.
   */
  private watchHit(pc: bigint): DebugStop | null {
    const a = decodeAccess(this.hart, pc, this.fetcher);
    if (a === null) return null;
    let i = a.write ? this.bank.matchData(a.addr, a.size, true, PRV_M) : -1;
    if (i < 0 && a.read) i = this.bank.matchData(a.addr, a.size, false, PRV_M);
    if (i < 0) return null;
    const kind = this.watchKinds[i]!;
    const access = kind === 'write' ? 'watch' : kind === 'read' ? 'rwatch' : 'awatch';
    return { kind: 'watch', access, addr: this.bank.addrs[i]! };
  }
}

/**
 * Reads instruction parcels as the hart would fetch them, without side
 * effects; the page's translation and RAM view are kept until the page,
 * satp, privilege or the memory map changes.
 */
class DebugFetcher {
  private vpn = -1n;
  private satp = -1n;
  private priv = -1;
  private epoch = -1;
  private pagePa = -1;
  private bytes: Uint8Array | null = null;
  private off = 0;
  private readonly attrs: ReturnType<typeof memTxAttrs>;

  constructor(private readonly hart: DebuggableHart) {
    this.attrs = memTxAttrs({ requesterId: hart.hartId });
  }

  /** The 16-bit parcel at va, or -1 if it cannot be fetched. */
  parcel(va: bigint): number {
    const h = this.hart;
    const vpn = va >> 12n;
    if (vpn !== this.vpn || h.satp !== this.satp || h.priv !== this.priv || h.mem.epoch !== this.epoch) {
      this.vpn = vpn;
      this.satp = h.satp;
      this.priv = h.priv;
      this.epoch = h.mem.epoch;
      this.pagePa = debugTranslate(h, vpn << 12n, true);
      const rp = this.pagePa < 0 ? null : h.mem.ramPtr(this.pagePa, 4096, false);
      this.bytes = rp ? rp.bytes : null;
      this.off = rp ? rp.offset : 0;
    }
    if (this.pagePa < 0) return -1;
    const o = Number(va & 0xfffn);
    if (o > 4094) return -1; // a parcel never straddles pages (they are 2-byte aligned)
    if (this.bytes !== null) return this.bytes[this.off + o]! | (this.bytes[this.off + o + 1]! << 8);
    if (h.mem.load(this.pagePa + o, 2, this.attrs) !== MEMTX_OK) return -1;
    return h.mem.valLo & 0xffff;
  }
}

/** The data access the instruction at pc will make (loads, stores, FP loads/stores, AMOs), or null. */
function decodeAccess(hart: DebuggableHart, pc: bigint, f: DebugFetcher): { addr: bigint; size: number; read: boolean; write: boolean } | null {
  const lo = f.parcel(pc);
  if (lo < 0) return null;
  let insn: number;
  if ((lo & 3) !== 3) {
    // Compressed loads and stores: quadrants 0 and 2, funct3 other than 0 and 4.
    const f3 = lo >> 13;
    if ((lo & 3) === 1 || f3 === 0 || f3 === 4) return null;
    insn = expandCompressed(lo);
  } else {
    const op = lo & 0x7f;
    // Only memory instructions need their upper half.
    if (op !== 0x03 && op !== 0x07 && op !== 0x23 && op !== 0x27 && op !== 0x2f) return null;
    const hi = f.parcel(pc + 2n);
    if (hi < 0) return null;
    insn = lo | (hi << 16);
  }
  const op = insn & 0x7f;
  const f3 = (insn >> 12) & 7;
  const base = hart.getX((insn >> 15) & 31);
  switch (op) {
    case 0x03: // LOAD
    case 0x07: // LOAD-FP
      return { addr: BigInt.asUintN(64, base + BigInt(insn >> 20)), size: 1 << (f3 & 3), read: true, write: false };
    case 0x23: // STORE
    case 0x27: {
      // STORE-FP
      const imm = ((insn >> 25) << 5) | ((insn >> 7) & 31);
      return { addr: BigInt.asUintN(64, base + BigInt(imm)), size: 1 << (f3 & 3), read: false, write: true };
    }
    case 0x2f: {
      // AMO: LR reads, SC writes, the others do both
      const f5 = insn >>> 27;
      return { addr: base, size: f3 === 3 ? 8 : 4, read: f5 !== 3, write: f5 !== 2 };
    }
    default:
      return null;
  }
}

function watchMatch(kind: WatchKind): number {
  return kind === 'write' ? MATCH_STORE : kind === 'read' ? MATCH_LOAD : MATCH_LOAD | MATCH_STORE;
}

/**
 * Translate a virtual address as the hart's data accesses (or, with
 * `fetch`, instruction fetches) would (satp, privilege, MPRV for data), without side effects: no accessed/dirty updates, no
 * faults, no TLB fills. Permissions are not checked (a debugger sees every
 * mapped page). Returns the physical address, or -1 if unmapped.
 */
export function debugTranslate(hart: DebuggableHart, vaddr: bigint, fetch = false): number {
  let priv = hart.priv;
  if (!fetch && priv === PRV_M && (hart.mstatus & MSTATUS_MPRV) !== 0) priv = (hart.mstatus >> MSTATUS_MPP_SHIFT) & 3;
  const mode = Number(hart.satp >> 60n);
  const va = BigInt.asUintN(64, vaddr);
  if (priv === PRV_M || mode === 0) return va < 1n << 56n ? Number(va) : -1;
  const levels = mode === 8 ? 3 : mode === 9 ? 4 : 0;
  if (levels === 0) return -1;
  const vaBits = BigInt(12 + 9 * levels);
  const top = BigInt.asIntN(64, va) >> (vaBits - 1n);
  if (top !== 0n && top !== -1n) return -1;
  let table = (hart.satp & ((1n << 44n) - 1n)) * 4096n;
  const attrs = memTxAttrs({ requesterId: hart.hartId, memoryOnly: true });
  for (let level = levels - 1; level >= 0; level--) {
    const idx = (va >> BigInt(12 + 9 * level)) & 511n;
    if (hart.mem.load(Number(table + idx * 8n), 8, attrs) !== MEMTX_OK) return -1;
    const pte = (BigInt(hart.mem.valHi >>> 0) << 32n) | BigInt(hart.mem.valLo >>> 0);
    if ((pte & 1n) === 0n || (pte & 6n) === 4n) return -1;
    const ppn = (pte >> 10n) & ((1n << 44n) - 1n);
    if ((pte & 0xan) === 0n) {
      table = ppn * 4096n;
      continue;
    }
    const pageBits = BigInt(12 + 9 * level);
    const base = (ppn * 4096n) & ~((1n << pageBits) - 1n);
    return Number(base | (va & ((1n << pageBits) - 1n)));
  }
  return -1;
}
