/**
 * Hart interrupt lines in shared memory, as every realm can drive them.
 *
 * Each hart realm has an mip word in the shared control block; the CLINT and
 * PLIC (main realm) set and clear its bits with Atomics and wake the hart when
 * one changes. The ACLINT SWI is nothing but its MSIP bits, so its registers
 * can be those bits: then any realm runs a SWI access itself (hw/intc/clint.ts:
 * aclintSwiOps over SharedMsip) instead of a round trip to the main realm,
 * which an IPI would otherwise cost twice (set by the sender, cleared by the
 * target) — QEMU's ACLINT SWI likewise runs on the vCPU thread that writes it.
 *
 * A running hart copies its word in at its quantum boundaries; a change also
 * sets the ST_LINES flag in the hart's state area (in the guest-RAM memory
 * every realm shares), which its translator's dispatcher looks at between
 * blocks (src/cpu/riscv/jit/engine.ts). OpenSBI's remote fences make the
 * sender spin until the target has answered the IPI: at quantum boundaries
 * alone (8,192 instructions, up to ~150 us of interpreted code) that spin was
 * 17 % of hart 0's time in a Linux `-smp 2` boot.
 */
import { JC_KICK, ST_JC_EPOCH, ST_LINES, type HartStateArea } from '../../cpu/riscv/state-area.js';
import { aclintSwiOps, CLINT_SWI_SIZE, MIP_MSIP_BIT, type InterruptTarget, type MsipStore } from '../../hw/intc/clint.js';
import { ReentrancyGuard } from '../../memory/owner.js';
import { MemoryRegion } from '../../memory/region.js';
import { PORTABLE_SERIAL, PostedSerialClient } from './posted-serial.js';
import type { PortableRegions } from './realm-memory.js';
import { hartRealm, W_MIP, type SmpShared } from './shared.js';

/** The portable kind of the CLINT's SWI region (SmpCoordinator.setPortable). */
export const PORTABLE_ACLINT_SWI = 'riscv.aclint.swi';

/** A hart's interrupt lines: bits of its realm's shared mip word. */
export class SharedHartLines implements InterruptTarget {
  private readonly idx: number;
  /** The hart's ST_JC_EPOCH .. ST_LINES words. */
  private readonly flag: Int32Array | null;
  /** `state`: the hart's state area, whose ST_LINES flag a change sets (none if absent). */
  constructor(
    private readonly shared: SmpShared,
    private readonly realm: number,
    state?: HartStateArea,
  ) {
    this.idx = shared.w(realm, W_MIP);
    this.flag = state ? new Int32Array(state.memory.buffer, state.offset + ST_JC_EPOCH, (ST_LINES - ST_JC_EPOCH) / 4 + 1) : null;
  }

  setInterruptLevel(bit: number, level: boolean): void {
    const m = 1 << bit;
    const old = level ? Atomics.or(this.shared.i32, this.idx, m) : Atomics.and(this.shared.i32, this.idx, ~m);
    if (((old & m) !== 0) !== level) this.changed();
  }

  level(bit: number): number {
    return (Atomics.load(this.shared.i32, this.idx) >>> bit) & 1;
  }

  /** Set line `bit` and wake the hart, whether or not the line was set already. */
  raiseAndWake(bit: number): void {
    Atomics.or(this.shared.i32, this.idx, 1 << bit);
    this.changed();
  }

  /**
   * After the word changed: flag it to the running hart (after the word, so it reads the new
   * value; the kick bit before the flag, which the hart clears in the other order:
   * state-area.ts JC_KICK), and wake a sleeping one.
   */
  private changed(): void {
    const f = this.flag;
    if (f !== null) {
      Atomics.or(f, 0, JC_KICK);
      Atomics.store(f, (ST_LINES - ST_JC_EPOCH) / 4, 1);
    }
    this.shared.kick(this.realm);
  }
}

/** The interrupt lines of harts 0 .. harts-1; `states[h]`, where given, is hart h's state area. */
export function hartLines(shared: SmpShared, harts: number, states: readonly HartStateArea[] = []): SharedHartLines[] {
  const lines: SharedHartLines[] = [];
  for (let h = 0; h < harts; h++) lines.push(new SharedHartLines(shared, hartRealm(h), states[h]));
  return lines;
}

/** The SWI's MSIP bits as the harts' MSIP lines themselves (nothing else drives MSIP). */
export class SharedMsip implements MsipStore {
  constructor(private readonly lines: readonly SharedHartLines[]) {}
  get harts(): number {
    return this.lines.length;
  }
  get(hart: number): number {
    return this.lines[hart]!.level(MIP_MSIP_BIT);
  }
  set(hart: number, bit: number): void {
    // An IPI wakes its target even when its MSIP is already set: a hart that spins on wfi
    // with its IPI pending naps until then (hart-realm.ts: WFI_NAP_MAX_MS). One atomic OR,
    // so a target clearing its MSIP at the same moment cannot lose the new IPI.
    if (bit === 1) this.lines[hart]!.raiseAndWake(MIP_MSIP_BIT);
    else this.lines[hart]!.setInterruptLevel(MIP_MSIP_BIT, false);
  }
  reset(): void {
    for (const l of this.lines) l.setInterruptLevel(MIP_MSIP_BIT, false);
  }
}

/**
 * The portable regions a realm can build over the shared control block (made on first use),
 * and the console UART's partial device when the machine posts to it (posted-serial.ts).
 */
export function portableRegions(shared: SmpShared, harts: number, serialShare?: SharedArrayBuffer, states: readonly HartStateArea[] = []): PortableRegions {
  let swi: MemoryRegion | null = null;
  let serial: PostedSerialClient | null = null;
  return (kind) => {
    if (kind === PORTABLE_SERIAL && serialShare !== undefined) return (serial ??= new PostedSerialClient(serialShare, shared));
    if (kind !== PORTABLE_ACLINT_SWI) return null;
    swi ??= MemoryRegion.io(PORTABLE_ACLINT_SWI, CLINT_SWI_SIZE, aclintSwiOps(new SharedMsip(hartLines(shared, harts, states))), {
      owner: { name: 'clint', reentrancyGuard: new ReentrancyGuard() },
    });
    return swi;
  };
}
