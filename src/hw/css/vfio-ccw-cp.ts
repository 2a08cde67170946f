/**
 * vfio-ccw's channel program copies (Linux's vfio_ccw_cp.c): the guest's
 * program translated into the host's CpArena as format-1 CCWs, the IRB's CCW
 * address mapped back to the guest's program, and freeing a copy. The FSM
 * (vfio-ccw.ts) decides when each happens.
 */
import { CCW_FLAG_CC, CCW_FLAG_CD } from './bits.js';
import { encodeCcw1, fetchCcw, isTic, type Ccw } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import type { CpArena } from './host-subchannel.js';
import type { Irb, Orb } from './schib.js';

/** The translated channel program of one start request. */
export interface ChannelProgramCopy {
  readonly gen: number;
  readonly guestCpa: number;
  readonly guestOrb: Orb;
  readonly base: number;
  /** Guest address of each translated CCW, by index. */
  readonly guestAddrs: readonly number[];
  freed: boolean;
}

/**
 * cp_init + prefetch: copy the guest's program into the arena as format-1
 * CCWs, following TICs (a TIC to an already copied CCW becomes a TIC inside
 * the copy, so a loop stays a loop and the host channel's budget ends it).
 * Data addresses stay guest addresses (guest RAM is pinned, identity-mapped
 * in the host view). Null when the program cannot be copied within budget
 * or its CCWs are not in guest storage. `nextGen` is asked for the copy's
 * generation only once the program has been fetched whole.
 */
export function translateChannelProgram(
  guestMemory: CssMemory,
  arena: CpArena,
  orb: Orb,
  budget: number,
  nextGen: () => number,
): ChannelProgramCopy | null {
  const ccws: Ccw[] = [];
  const addrs: number[] = [];
  const index = new Map<number, number>();
  const pendingTargets: number[] = [orb.cpa >>> 0];
  /** Index -> guest address to link by a synthetic TIC (a chain continuing into already copied CCWs). */
  const links: { at: number; target: number }[] = [];
  while (pendingTargets.length > 0) {
    let a = pendingTargets.shift()!;
    if (index.has(a)) continue;
    for (;;) {
      if (ccws.length >= budget) return null;
      if (a & 7) return null;
      const ccw = fetchCcw(guestMemory, a, orb.format1);
      if (!ccw) return null;
      const c: Ccw = isTic(ccw.cmd) && !orb.format1 ? { cmd: ccw.cmd, flags: 0, count: 0, cda: ccw.cda } : ccw;
      index.set(a, ccws.length);
      ccws.push(c);
      addrs.push(a);
      if (isTic(c.cmd)) {
        pendingTargets.push(c.cda >>> 0);
        break;
      }
      if (!(c.flags & (CCW_FLAG_CC | CCW_FLAG_CD))) break;
      a += 8;
      if (index.has(a)) {
        // Continue into the copy with a TIC of our own; if the CCW there is itself a TIC, go to its
        // target instead, so the copy never holds a TIC to a TIC the guest's program did not have.
        const there = ccws[index.get(a)!]!;
        const target = isTic(there.cmd) ? there.cda >>> 0 : a;
        if (!index.has(target)) pendingTargets.push(target);
        links.push({ at: ccws.length, target });
        ccws.push({ cmd: 0x08, flags: 0, count: 0, cda: 0 });
        addrs.push(a);
        break;
      }
    }
  }
  const gen = nextGen();
  const base = arena.alloc(ccws.length * 8, `cp gen ${gen}`);
  const linkAt = new Map(links.map((l) => [l.at, l.target]));
  for (let i = 0; i < ccws.length; i++) {
    const c = ccws[i]!;
    let out = c;
    if (isTic(c.cmd)) {
      const target = linkAt.get(i) ?? c.cda >>> 0;
      const ti = index.get(target);
      // A TIC whose target could not be copied keeps an address the channel cannot fetch.
      out = { ...c, cda: ti === undefined ? 0x7ffffff8 : base + ti * 8 };
    }
    arena.write(base + i * 8, encodeCcw1(out));
  }
  return { gen, guestCpa: orb.cpa >>> 0, guestOrb: orb, base, guestAddrs: addrs, freed: false };
}

/** Translate the IRB's CCW address back to the guest's program (reads the cp). */
export function cpUpdateScsw(cp: ChannelProgramCopy, irb: Irb): void {
  if (cp.freed) return;
  const idx = (irb.scsw.cpa - 8 - cp.base) / 8;
  const ga = Number.isInteger(idx) ? cp.guestAddrs[idx] : undefined;
  if (ga !== undefined) irb.scsw.cpa = (ga + 8) >>> 0;
}

export function cpFree(arena: CpArena, cp: ChannelProgramCopy): void {
  if (cp.freed) return;
  cp.freed = true;
  arena.free(cp.base);
}
