/**
 * The virt board's processors: guest RAM allocated in one WebAssembly memory
 * with the harts' state areas, the harts sharing their translation state,
 * the coordinator of hart realms (threads 'multi'), and the event loop's
 * handle on a hart that runs in the main realm.
 */
import type { HostServices } from '../../host/types.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { allocateGuestRam, type GuestRamBacking } from '../../memory/guest-ram.js';
import type { SyncEnv } from '../../sync/env.js';
import { Hart } from '../../cpu/riscv/hart.js';
import { CodeShare } from '../../cpu/riscv/jit/code-share.js';
import { CodeSync } from '../../cpu/riscv/jit/code-sync.js';
import { hotThreshold, REGION_THRESHOLD, THREAD_THRESHOLD } from '../../cpu/riscv/jit/thresholds.js';
import { HART_STATE_BYTES, SHARED_HITS_BYTES, sharedHitsIn, stateAreasIn, type HartStateArea } from '../../cpu/riscv/state-area.js';
import type { Clint } from '../../hw/intc/clint.js';
import type { ClockMode, EventLoop, RunnableHart } from '../event-loop.js';
import { SmpCoordinator } from '../smp/coordinator.js';
import { BootError } from './boot.js';
import type { VirtOptions } from './virt-options.js';

/** Guest RAM with the harts' state areas (and, with several harts, the shared hit counters) at its tail. */
export interface RamWithHartStates {
  readonly backing: GuestRamBacking;
  /** How many state areas: one per hart, and one more per hart for the hart realms (threads 'multi'). */
  readonly stateAreas: number;
  readonly areas: HartStateArea[];
}

export function allocateRamWithHartStates(opts: VirtOptions): RamWithHartStates {
  // Hart realms get areas of their own: the main realm's Hart objects stay (reset, state capture) while the workers run.
  const stateAreas = opts.threads === 'multi' ? 2 * opts.smp : opts.smp;
  let backing: GuestRamBacking;
  try {
    backing = allocateGuestRam(opts.ramSize, stateAreas * HART_STATE_BYTES + (opts.smp > 1 ? SHARED_HITS_BYTES : 0));
  } catch {
    throw new BootError(`cannot allocate ${opts.ramSize / (1024 * 1024)} MiB of guest RAM`);
  }
  return { backing, stateAreas, areas: stateAreasIn(backing, stateAreas) };
}

export interface HartSetup {
  readonly opts: VirtOptions;
  readonly clock: ClockMode;
  readonly host: HostServices;
  /** The system address space the harts load and store through. */
  readonly as: AddressSpace;
  readonly ram: RamWithHartStates;
  /** The harts' clock (the CLINT's mtime). */
  readonly timeSource: () => number;
  readonly log: (line: string) => void;
  readonly env: SyncEnv;
}

/** The harts, and with threads 'multi' the coordinator of the realms that run them. */
export function createHarts(s: HartSetup): { harts: Hart[]; smpCoordinator: SmpCoordinator | null } {
  const { opts, ram } = s;
  const { areas } = ram;
  // One code-page record for all harts: a store by any hart invalidates the others' translations.
  const codeSync = CodeSync.allocate();
  // And one arena of translated modules: code one hart translated, the others run at once.
  const codeShare = opts.smp > 1 ? CodeShare.allocate() : undefined;
  // And the hit counters, after the areas (the memory's tail): entries count whichever hart makes them.
  const sharedHits = opts.smp > 1 ? sharedHitsIn(ram.backing, ram.stateAreas) : undefined;
  // Harts in worker realms keep one host thread each busy, harts on the main realm one in all.
  const translateThreshold = hotThreshold(s.host.cpus, opts.threads === 'multi' ? opts.smp : 1);
  const regionThreshold = opts.regions === true ? REGION_THRESHOLD : 0;
  // Threaded code is the default (docs/cpu.md, *Threaded code*); a hart with shared counters has none.
  const threadThreshold = opts.threaded === false ? 0 : THREAD_THRESHOLD;
  const harts: Hart[] = [];
  for (let i = 0; i < opts.smp; i++)
    harts.push(new Hart({ hartId: i, mem: s.as, timeSource: s.timeSource, translate: opts.translate, translateThreshold, regionThreshold, threadThreshold, codeSync, codeShare, sharedHits, state: areas[i] }));
  let smpCoordinator: SmpCoordinator | null = null;
  if (opts.threads === 'multi') {
    if (s.clock.kind !== 'realtime') throw new BootError('-icount needs -accel tcg,thread=single');
    smpCoordinator = new SmpCoordinator({ host: s.host, as: s.as, harts: opts.smp, log: s.log, env: s.env, translate: opts.translate, translateThreshold, regionThreshold, codeSync, codeShare, sharedHits, hartStates: areas.slice(opts.smp) });
  }
  return { harts, smpCoordinator };
}

/**
 * The event loop's handle on a main-realm hart. A hart `held` (by the
 * gdbstub) does not run and counts as waiting, so the loop sleeps while a
 * debugger holds it.
 */
export function runnableHart(h: Hart, loop: EventLoop, clint: () => Clint, held: () => boolean): RunnableHart {
  let start = 0;
  return {
    run: (budget: number) => {
      start = h.steps;
      return held() ? 0 : h.run(budget);
    },
    progress: () => h.steps - start,
    get waiting() {
      return h.waiting || held();
    },
    requestStop: () => h.requestStop(),
    nextTimerDeadline: () => {
      const t = held() ? Infinity : h.nextTimerDeadline();
      if (t === Infinity) return Infinity;
      // stimecmp is in mtime ticks (100 ns); convert to the loop's clock.
      return loop.clock.now() + Math.max(0, t - clint().mtime()) * 100;
    },
  };
}
