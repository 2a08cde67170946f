/**
 * SiFive CLINT as QEMU 7.2 builds it for `virt`: two ACLINT devices side by
 * side, "riscv.aclint.swi" (MSIP words, 0x4000 bytes) and
 * "riscv.aclint.mtimer" (mtimecmp per hart at 0, mtime at 0x7ff8; 0x8000
 * bytes) mapped at base and base + 0x4000.
 *
 * mtime counts at 10 MHz from the scheduler's virtual clock:
 * mtime = floor(ns / 100) + delta, where the guest writing mtime changes delta.
 * MTIP follows mtime >= mtimecmp: it is evaluated on every mtimecmp/mtime write
 * and a timer fires at the deadline. 64-bit registers are held as two 32-bit
 * halves; values beyond 2^53 ticks lose precision in comparisons (about 28 years
 * of guest time, so only a hostile or "never" value gets there, and "never" is
 * what it means). An 8-byte access reads or writes a register whole, as QEMU's
 * does: an 8-byte mtime read samples the clock once (two 4-byte reads sample it
 * twice, and a carry between them tears the value), an 8-byte mtimecmp write
 * re-evaluates MTIP once, with both halves in place.
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import { MEMTX_OK, type MemoryRegionOps } from '../../memory/types.js';
import type { Scheduler, Timer } from '../../sync/work.js';

/** What the CLINT and PLIC need of a hart: drive one bit of its mip. */
export interface InterruptTarget {
  setInterruptLevel(bit: number, level: boolean): void;
}

/**
 * The MSIP bits behind the SWI registers, one per hart. The register reads back
 * what was written, and writing it drives the hart's MSIP line.
 */
export interface MsipStore {
  readonly harts: number;
  get(hart: number): number;
  set(hart: number, bit: number): void;
  /** Every bit 0 and every line driven low, whatever they were (machine reset). */
  reset(): void;
}

/** MSIP bits held here, driving the lines through `targets` (one realm). */
class LocalMsip implements MsipStore {
  private readonly bits: Uint8Array;
  constructor(private readonly targets: readonly InterruptTarget[]) {
    this.bits = new Uint8Array(targets.length);
  }
  get harts(): number {
    return this.targets.length;
  }
  get(hart: number): number {
    return this.bits[hart]!;
  }
  set(hart: number, bit: number): void {
    if (bit === this.bits[hart]) return;
    this.bits[hart] = bit;
    this.targets[hart]!.setInterruptLevel(MIP_MSIP_BIT, bit === 1);
  }
  reset(): void {
    this.bits.fill(0);
    for (const t of this.targets) t.setInterruptLevel(MIP_MSIP_BIT, false);
  }
}

/**
 * "riscv.aclint.swi" accesses over an MSIP store: 32-bit words, one per hart,
 * bit 0 significant. This is all the SWI device does, so a realm that can
 * reach the store (machine/smp: the harts' shared interrupt words) runs these
 * accesses itself instead of asking the CLINT's realm.
 */
export function aclintSwiOps(store: MsipStore): MemoryRegionOps {
  return {
    read: (off) => {
      const hart = off >>> 2;
      return (off & 3) !== 0 || hart >= store.harts ? 0 : store.get(hart);
    },
    write: (off, v) => {
      const hart = off >>> 2;
      if ((off & 3) === 0 && hart < store.harts) store.set(hart, v & 1);
    },
    valid: { min: 4, max: 4 },
    impl: { min: 4, max: 4 },
  };
}

export interface ClintOptions {
  /** Where the MSIP bits live (default: in the CLINT, driving `harts`). */
  msip?: MsipStore;
}

export const MIP_MSIP_BIT = 3;
export const MIP_MTIP_BIT = 7;

export const CLINT_SWI_SIZE = 0x4000;
export const CLINT_MTIMER_SIZE = 0x8000;
/** Offset of the mtimer region from the CLINT base. */
export const CLINT_MTIMER_OFFSET = 0x4000;
const MTIME_OFFSET = 0x7ff8;
export const CLINT_TIMEBASE_HZ = 10_000_000;
/** Machine-clock ns per mtime tick. */
export const NS_PER_TICK = 1e9 / CLINT_TIMEBASE_HZ;
const TWO32 = 2 ** 32;
/** Largest ns deadline the scheduler can hold. */
const MAX_NS = Number.MAX_SAFE_INTEGER;

export class Clint implements DeviceOwner {
  readonly name = 'clint';
  readonly reentrancyGuard = new ReentrancyGuard();
  /** "riscv.aclint.swi", mapped at the CLINT base. */
  readonly swi: MemoryRegion;
  /** "riscv.aclint.mtimer", mapped at base + CLINT_MTIMER_OFFSET. */
  readonly mtimer: MemoryRegion;

  private readonly msip: MsipStore;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  private readonly mtip: Uint8Array;
  private readonly timers: Timer[];
  /** mtime minus the clock-derived tick count. */
  private delta = 0;

  constructor(
    private readonly harts: readonly InterruptTarget[],
    private readonly scheduler: Scheduler,
    opts: ClintOptions = {},
  ) {
    const n = harts.length;
    this.msip = opts.msip ?? new LocalMsip(harts);
    if (this.msip.harts !== n) throw new RangeError(`clint: an MSIP store for ${this.msip.harts} harts, ${n} harts`);
    this.cmpLo = new Uint32Array(n);
    this.cmpHi = new Uint32Array(n);
    this.mtip = new Uint8Array(n);
    this.timers = harts.map((_, i) => scheduler.newTimer(() => this.updateTimer(i), this));

    const mtimerOps: MemoryRegionOps = {
      readWithAttrs: (off, size, _attrs, out) => {
        this.mtimerRead(off, size, out);
        return MEMTX_OK;
      },
      writeWithAttrs: (off, v, size, _attrs, hi) => {
        this.mtimerWrite(off, size, v >>> 0, hi >>> 0);
        return MEMTX_OK;
      },
      valid: { min: 4, max: 8 },
      impl: { min: 4, max: 8 },
    };
    this.swi = MemoryRegion.io('riscv.aclint.swi', CLINT_SWI_SIZE, aclintSwiOps(this.msip), { owner: this });
    this.mtimer = MemoryRegion.io('riscv.aclint.mtimer', CLINT_MTIMER_SIZE, mtimerOps, { owner: this });
    this.reset();
  }

  /** Current mtime in ticks (the harts' `time` CSR). */
  mtime(): number {
    return this.mtimeAt(this.scheduler.clock.now());
  }

  /** mtime at an instant of the machine clock (ns). */
  mtimeAt(clockNs: number): number {
    return Math.floor(clockNs / NS_PER_TICK) + this.delta;
  }

  /** mtimecmp of a hart as a number (precision beyond 2^53 is lost). */
  mtimecmp(hart: number): number {
    return this.cmpHi[hart]! * TWO32 + this.cmpLo[hart]!;
  }

  /** Memory-map both regions into `container` at `base` (QEMU's layout). */
  mapInto(container: MemoryRegion, base: number): void {
    container.addSubregion(base, this.swi);
    container.addSubregion(base + CLINT_MTIMER_OFFSET, this.mtimer);
  }

  reset(): void {
    this.msip.reset();
    for (let i = 0; i < this.harts.length; i++) {
      this.cmpLo[i] = 0;
      this.cmpHi[i] = 0;
      this.mtip[i] = 2; // unknown: force the first update to drive the line
      this.updateTimer(i);
    }
  }

  /** A 4- or 8-byte read (naturally aligned: valid.unaligned is false) into out[0] (and out[1]). */
  private mtimerRead(off: number, size: number, out: Uint32Array): void {
    if (off === MTIME_OFFSET || off === MTIME_OFFSET + 4) {
      const t = this.mtime();
      const hi = Math.floor(t / TWO32);
      const lo = t - hi * TWO32;
      if (size === 8) {
        out[0] = lo;
        out[1] = hi;
      } else out[0] = off === MTIME_OFFSET ? lo : hi;
      return;
    }
    const hart = off >>> 3;
    if (hart >= this.harts.length) return;
    if (size === 8) {
      out[0] = this.cmpLo[hart]!;
      out[1] = this.cmpHi[hart]!;
    } else out[0] = off & 4 ? this.cmpHi[hart]! : this.cmpLo[hart]!;
  }

  /** A 4-byte write of `v`, or an 8-byte one of hi:v. */
  private mtimerWrite(off: number, size: number, v: number, hi: number): void {
    if (off === MTIME_OFFSET || off === MTIME_OFFSET + 4) {
      let next: number;
      if (size === 8) next = hi * TWO32 + v;
      else {
        const t = this.mtime();
        const tHi = Math.floor(t / TWO32);
        const tLo = t - tHi * TWO32;
        next = off === MTIME_OFFSET ? tHi * TWO32 + v : v * TWO32 + tLo;
      }
      this.delta = next - Math.floor(this.scheduler.clock.now() / NS_PER_TICK);
      for (let i = 0; i < this.harts.length; i++) this.updateTimer(i);
      return;
    }
    const hart = off >>> 3;
    if (hart >= this.harts.length) return;
    if (size === 8) {
      this.cmpLo[hart] = v;
      this.cmpHi[hart] = hi;
    } else if (off & 4) this.cmpHi[hart] = v;
    else this.cmpLo[hart] = v;
    this.updateTimer(hart);
  }

  /** Drive MTIP for a hart and arm its timer for the deadline if it lies ahead. */
  private updateTimer(hart: number): void {
    const cmp = this.mtimecmp(hart);
    const now = this.mtime();
    const timer = this.timers[hart]!;
    let level: number;
    if (now >= cmp) {
      level = 1;
      timer.del();
    } else {
      level = 0;
      // First ns at which floor(ns / 100) + delta >= cmp.
      const deadline = (cmp - this.delta) * NS_PER_TICK;
      if (deadline <= MAX_NS) timer.mod(deadline);
      else timer.del(); // beyond what the clock can reach: never
    }
    if (level !== this.mtip[hart]) {
      this.mtip[hart] = level;
      this.harts[hart]!.setInterruptLevel(MIP_MTIP_BIT, level === 1);
    }
  }
}
