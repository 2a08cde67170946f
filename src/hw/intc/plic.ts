/**
 * SiFive PLIC as QEMU 7.2 configures it for `virt` ("riscv.sifive.plic",
 * 0x600000 bytes, hart-config "MS"): 96 sources (source 0 reserved), 7
 * priority levels (3-bit WARL priority and threshold registers), two contexts
 * per hart: context 2N drives hart N's MEIP, context 2N+1 its SEIP.
 *
 * Register map: priority of source s at 4*s; pending bits at 0x1000; per
 * context enable bits at 0x2000 + 0x80*ctx; per context threshold at
 * 0x200000 + 0x1000*ctx and claim/complete 4 bytes further.
 *
 * Gateway semantics: an input driven high latches the source's pending bit,
 * which stays set until a claim even if the input drops again (QEMU 7.2 does
 * the same); claiming clears the pending bit and holds the source claimed, so
 * it cannot be delivered again until the guest completes it; on completion a
 * source whose input is still high becomes pending again at once.
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import type { IrqLine } from '../irq.js';
import type { InterruptTarget } from './clint.js';

export const PLIC_SIZE = 0x600000;
export const MIP_SEIP_BIT = 9;
export const MIP_MEIP_BIT = 11;

const PRIORITY_BASE = 0x0;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x200000;
const CONTEXT_STRIDE = 0x1000;

export interface PlicOptions {
  /** Number of sources including the reserved source 0 (QEMU virt: 96). */
  numSources?: number;
  /** Highest priority level (QEMU virt: 7). */
  numPriorities?: number;
}

export class Plic implements DeviceOwner {
  readonly name = 'plic';
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly mr: MemoryRegion;
  readonly numSources: number;
  readonly numContexts: number;

  private readonly numPriorities: number;
  private readonly words: number;
  private readonly priority: Uint32Array;
  private readonly level: Uint8Array;
  private readonly pending: Uint32Array;
  private readonly claimed: Uint32Array;
  private readonly enable: Uint32Array;
  private readonly threshold: Uint32Array;
  private readonly output: Uint8Array;
  private readonly inputs: IrqLine[];

  constructor(
    private readonly harts: readonly InterruptTarget[],
    opts: PlicOptions = {},
  ) {
    this.numSources = opts.numSources ?? 96;
    this.numPriorities = opts.numPriorities ?? 7;
    if (!Number.isInteger(this.numSources) || this.numSources < 2 || this.numSources > 1024) {
      throw new RangeError(`PLIC: numSources ${this.numSources} must be in [2, 1024]`);
    }
    this.numContexts = harts.length * 2;
    this.words = Math.ceil(this.numSources / 32);
    this.priority = new Uint32Array(this.numSources);
    this.level = new Uint8Array(this.numSources);
    this.pending = new Uint32Array(this.words);
    this.claimed = new Uint32Array(this.words);
    this.enable = new Uint32Array(this.words * this.numContexts);
    this.threshold = new Uint32Array(this.numContexts);
    this.output = new Uint8Array(this.numContexts);
    this.inputs = [];
    for (let s = 0; s < this.numSources; s++) {
      const src = s;
      this.inputs.push({ set: (lvl: boolean) => this.setInput(src, lvl) });
    }
    const ops: MemoryRegionOps = {
      read: (off) => this.read(off),
      write: (off, v) => this.write(off, v),
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
    };
    this.mr = MemoryRegion.io('riscv.sifive.plic', PLIC_SIZE, ops, { owner: this });
  }

  /** The input pin of source `n` (1..numSources-1); source 0 is a line that goes nowhere. */
  input(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 0 || n >= this.numSources) {
      throw new RangeError(`PLIC: no interrupt source ${n} (1..${this.numSources - 1})`);
    }
    return this.inputs[n]!;
  }

  reset(): void {
    this.priority.fill(0);
    this.pending.fill(0);
    this.claimed.fill(0);
    this.enable.fill(0);
    this.threshold.fill(0);
    // Inputs keep their level: the devices driving them reset separately and re-drive them.
    for (let s = 1; s < this.numSources; s++) if (this.level[s]) this.pending[s >>> 5]! |= 1 << (s & 31);
    this.update();
  }

  /** Whether source `n` is pending (for tests and monitors). */
  isPending(n: number): boolean {
    return n > 0 && n < this.numSources && (this.pending[n >>> 5]! & (1 << (n & 31))) !== 0;
  }

  private setInput(src: number, lvl: boolean): void {
    if (src === 0) return;
    this.level[src] = lvl ? 1 : 0;
    if (!lvl) return;
    this.pending[src >>> 5]! |= 1 << (src & 31);
    this.update();
  }

  /** Priority/threshold registers are WARL: keep the bits that exist (numPriorities + 1 is a power of two). */
  private clampPriority(v: number): number | null {
    const n = this.numPriorities;
    if (((n + 1) & n) === 0) return v & n;
    return v <= n ? v : null;
  }

  private read(off: number): number {
    if (off < PENDING_BASE) {
      const s = (off - PRIORITY_BASE) >>> 2;
      return s < this.numSources ? this.priority[s]! : 0;
    }
    if (off < ENABLE_BASE) {
      const w = (off - PENDING_BASE) >>> 2;
      return w < this.words ? this.pending[w]! : 0;
    }
    if (off < CONTEXT_BASE) {
      const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      return ctx < this.numContexts && w < this.words ? this.enable[ctx * this.words + w]! : 0;
    }
    const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
    const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (ctx >= this.numContexts) return 0;
    if (reg === 0) return this.threshold[ctx]!;
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  private write(off: number, v: number): void {
    v >>>= 0;
    if (off < PENDING_BASE) {
      const s = (off - PRIORITY_BASE) >>> 2;
      if (s === 0 || s >= this.numSources) return;
      const p = this.clampPriority(v);
      if (p !== null) this.priority[s] = p;
      this.update();
      return;
    }
    if (off < ENABLE_BASE) return; // pending bits are read-only
    if (off < CONTEXT_BASE) {
      const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      if (ctx >= this.numContexts || w >= this.words) return;
      // Bit 0 (source 0) is writable, as in QEMU; source 0 never becomes pending, so it is inert.
      let mask = 0xffffffff;
      const top = this.numSources - w * 32;
      if (top < 32) mask &= (1 << top) - 1;
      this.enable[ctx * this.words + w] = (v & mask) >>> 0;
      this.update();
      return;
    }
    const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
    const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (ctx >= this.numContexts) return;
    if (reg === 0) {
      const p = this.clampPriority(v);
      if (p !== null) this.threshold[ctx] = p;
      this.update();
    } else if (reg === 4) {
      this.complete(ctx, v);
    }
  }

  /** Highest-priority source above the threshold, pending, enabled and not claimed; ties go to the lowest id. */
  private best(ctx: number): number {
    let bestSrc = 0;
    let bestPrio = this.threshold[ctx]!;
    const base = ctx * this.words;
    for (let w = 0; w < this.words; w++) {
      let bits = (this.pending[w]! & ~this.claimed[w]! & this.enable[base + w]!) >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits = (bits & (bits - 1)) >>> 0;
        const s = w * 32 + b;
        const p = this.priority[s]!;
        if (p > bestPrio) {
          bestPrio = p;
          bestSrc = s;
        }
      }
    }
    return bestSrc;
  }

  private claim(ctx: number): number {
    const s = this.best(ctx);
    if (s !== 0) {
      const w = s >>> 5;
      const bit = 1 << (s & 31);
      this.pending[w]! &= ~bit;
      this.claimed[w]! |= bit;
      this.update();
    }
    return s;
  }

  private complete(ctx: number, s: number): void {
    if (s === 0 || s >= this.numSources) return;
    const w = s >>> 5;
    const bit = 1 << (s & 31);
    // The spec: a completion for a source not enabled for this context is ignored.
    if (!(this.enable[ctx * this.words + w]! & bit)) return;
    this.claimed[w]! &= ~bit;
    if (this.level[s]) this.pending[w]! |= bit;
    this.update();
  }

  private update(): void {
    for (let ctx = 0; ctx < this.numContexts; ctx++) {
      const lvl = this.best(ctx) !== 0 ? 1 : 0;
      if (lvl !== this.output[ctx]) {
        this.output[ctx] = lvl;
        this.harts[ctx >> 1]!.setInterruptLevel(ctx & 1 ? MIP_SEIP_BIT : MIP_MEIP_BIT, lvl === 1);
      }
    }
  }
}
