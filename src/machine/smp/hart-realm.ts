/**
 * A hart realm: one Hart running in a worker (a Node worker thread or a Web
 * Worker; the platform's glue is a RealmEndpoint, src/host) on the shared
 * guest RAM. The worker entries are hart-worker.ts (Node) and
 * src/web/hart-worker.ts (browser bundle).
 *
 * Between quanta (and only there, where no access is in flight) the realm
 * adopts the newest flat-view snapshot and acknowledges its epoch, copies the
 * device-driven mip lines from shared memory into the hart, and obeys
 * commands (pause, reset, stop). In WFI it sleeps on its kick word until an
 * interrupt line, a command or a new epoch wakes it, or its own Sstc deadline
 * passes. Devices are reached through the mailbox (realm-memory.ts).
 *
 * A throw out of the hart (an emulator bug) is reported to the main realm
 * with the hart and its PC, and the worker exits with code 1.
 */
import type { RealmEndpoint } from '../../host/types.js';
import { monotonicNs } from '../../host/clock.js';
import { Hart } from '../../cpu/riscv/hart.js';
import { MailboxClient } from './mailbox.js';
import { RealmPhysMemory } from './realm-memory.js';
import { portableRegions } from './shared-lines.js';
import {
  CMD_NONE,
  CMD_PAUSE,
  CMD_RESET,
  CMD_STOP,
  F_CMD_ARG,
  F_PC,
  F_STEPS,
  F_UNASSIGNED,
  HART_PAUSED,
  HART_RUNNING,
  HART_STOPPED,
  HART_WFI,
  REALM_EXITED,
  REALM_RUNNING,
  SmpShared,
  W_ACK,
  W_ALIVE,
  W_CMD,
  W_KICK,
  W_MIP,
  W_STATE,
  hartRealm,
  realmMtime,
} from './shared.js';
import { SnapshotView, type SnapshotData } from './snapshot.js';
import type { HartStateArea } from '../../cpu/riscv/state-area.js';
import { captureHartState, type HartState } from '../hart-state.js';

export interface HartWorkerData {
  /** Set by the Node host for the worker bootstrap shim. */
  entry?: string;
  shared: SharedArrayBuffer;
  realms: number;
  /** Harts of the machine. */
  harts: number;
  hart: number;
  port: MessagePort;
  snapshot: SnapshotData;
  resetPc: number;
  /** Instructions per quantum between boundary checks. */
  quantum: number;
  /** Hart options (src/cpu/riscv/hart.ts). */
  translate?: boolean;
  translateThreshold?: number;
  regionThreshold?: number;
  codeSync: SharedArrayBuffer;
  codeShare?: SharedArrayBuffer;
  sharedHits?: number;
  /** The console UART's posting buffer (posted-serial.ts), if the machine posts to it. */
  serialShare?: SharedArrayBuffer;
  /** Registers and data TLBs in the guest-RAM memory (src/cpu/riscv/state-area.ts); private if absent. */
  state?: HartStateArea;
  /** Every hart's state area (the ACLINT SWI this realm runs flags the target's ST_LINES); none if absent. */
  states?: readonly HartStateArea[];
  /** Failure-handling tests: throw an emulator error once the hart has run this many instructions. */
  faultAfterSteps?: number;
}

/** Messages a hart worker posts to its parent. */
export type HartWorkerMessage =
  | { kind: 'error'; hart: number; message: string }
  | { kind: 'stopped'; hart: number; pc: number; steps: number }
  /** Posted on entering a pause: the monitor reads registers from it. */
  | { kind: 'state'; hart: number; state: HartState };

/** `pause` hints in a quantum that make a spinning hart nap, and how long (ms). */
const PAUSES_PER_NAP = 64;
const NAP_MS = 0.05;
/**
 * Longest nap of a hart spinning on `wfi`s that do not wait (naps double from NAP_MS while
 * it goes on). That is OpenSBI's secondary harts waiting for their start (the first ~2 s of
 * a Linux `-smp 2` boot: 0.75 s of a host core at 50 us naps, while hart 0 and V8's compiles
 * shared the rest); the IPI that starts them kicks (SharedMsip.set). A `pause` spin waits
 * for a store, which kicks nobody: its naps stay at NAP_MS.
 */
const WFI_NAP_MAX_MS = 2;

const hrNow = monotonicNs;

async function main(ep: RealmEndpoint<HartWorkerData>): Promise<void> {
  const d = ep.data;
  const sh = new SmpShared(d.shared, d.realms);
  const i32 = sh.i32;
  const f64 = sh.f64;
  const realm = hartRealm(d.hart);
  const log = ep.log;
  const client = new MailboxClient(sh, realm, { deviceRealm: false, log });
  const ramMemory = d.state?.memory ?? null;
  const mem = new RealmPhysMemory(new SnapshotView(d.snapshot, ramMemory), client, null, portableRegions(sh, d.harts, d.serialShare, d.states), log);
  // mtime as the CLINT computes it, from the clock the coordinator publishes.
  const timeSource = (): number => realmMtime(f64, hrNow());
  const hart = new Hart({ hartId: d.hart, mem, timeSource, translate: d.translate, translateThreshold: d.translateThreshold, regionThreshold: d.regionThreshold, codeSync: d.codeSync, codeShare: d.codeShare, sharedHits: d.sharedHits, state: d.state });
  hart.reset(d.resetPc);

  const kickIdx = sh.w(realm, W_KICK);
  const mipIdx = sh.w(realm, W_MIP);
  const cmdIdx = sh.w(realm, W_CMD);
  const stateIdx = sh.w(realm, W_STATE);
  const pcIdx = sh.f(realm, F_PC);
  const stepsIdx = sh.f(realm, F_STEPS);
  const unassignedIdx = sh.f(realm, F_UNASSIGNED);
  let mipSeen = 0;

  const syncMip = (): void => {
    const m = Atomics.load(i32, mipIdx);
    let diff = m ^ mipSeen;
    mipSeen = m;
    while (diff !== 0) {
      const bit = 31 - Math.clz32(diff);
      diff &= ~(1 << bit);
      hart.setInterruptLevel(bit, ((m >>> bit) & 1) !== 0);
    }
  };
  // A running hart takes a line change between blocks (shared-lines.ts says why).
  hart.onLines = syncMip;

  // Returns false when the published snapshot has not reached this realm yet
  // (a browser worker receives messages only between turns of its event loop).
  const adopt = (): boolean => {
    let latest: SnapshotData | null = null;
    for (let m = ep.receiveNow(d.port); m !== undefined; m = ep.receiveNow(d.port)) {
      latest = (m as { data: SnapshotData }).data;
    }
    if (latest !== null && latest.epoch > mem.epoch) mem.adopt(new SnapshotView(latest, ramMemory));
    Atomics.store(i32, sh.w(realm, W_ACK), mem.epoch);
    return mem.epoch >= sh.publishedEpoch();
  };
  // Adopt at a boundary, returning to the event loop while the snapshot is on its way.
  const adoptAtBoundary = async (): Promise<void> => {
    for (let tries = 0; !adopt() && tries < 100 && !sh.stopping; tries++) await ep.waitForMessage(d.port);
  };

  // After a device request: the device may have changed this hart's lines
  // (clearing its own MSIP) or the memory map (a flash leaving romd mode).
  // The access is complete and the hart re-checks mem.epoch right after it
  // (dropping its TLB), so the new map applies from the next access on, as
  // for a hart in the main realm; other harts adopt it at their boundary.
  // Where the snapshot cannot be read at once, the hart stops after this
  // instruction and adopts it at the boundary, before its next access.
  mem.afterRequest = (): void => {
    syncMip();
    if (sh.publishedEpoch() !== mem.epoch && !adopt()) hart.requestStop();
  };

  // Pause-loop exit: a guest that spins (many `pause` hints in a row) ends
  // its quantum and sleeps briefly, so the hart it waits for (or the main
  // realm) gets the host core; a kick (an interrupt, a command) ends the nap.
  let pauses = 0;
  let spinning = false;
  // Whether this quantum's spin ran on wfi, whether the last nap was such a spin's, its length.
  let wfiSpin = false;
  let wfiNapping = false;
  let wfiNap = NAP_MS;
  hart.onPause = (wfi: boolean): void => {
    if (wfi) wfiSpin = true;
    if (++pauses >= PAUSES_PER_NAP) {
      pauses = 0;
      spinning = true;
      hart.requestStop();
    }
  };

  Atomics.store(i32, sh.w(realm, W_ACK), mem.epoch);
  Atomics.store(i32, sh.w(realm, W_ALIVE), REALM_RUNNING);
  Atomics.store(i32, stateIdx, HART_RUNNING);

  for (;;) {
    const cmd = Atomics.load(i32, cmdIdx);
    if (cmd === CMD_STOP || sh.stopping) break;
    if (sh.publishedEpoch() !== mem.epoch) await adoptAtBoundary();
    if (cmd === CMD_PAUSE) {
      if (Atomics.load(i32, stateIdx) !== HART_PAUSED) {
        f64[pcIdx] = hart.pc;
        f64[stepsIdx] = hart.steps;
        ep.post({ kind: 'state', hart: d.hart, state: captureHartState(hart) } satisfies HartWorkerMessage);
      }
      Atomics.store(i32, stateIdx, HART_PAUSED);
      const k = Atomics.load(i32, kickIdx);
      if (Atomics.load(i32, cmdIdx) === CMD_PAUSE && !sh.stopping) Atomics.wait(i32, kickIdx, k, 100);
      continue;
    }
    if (cmd === CMD_RESET) {
      hart.reset(f64[sh.f(realm, F_CMD_ARG)]!);
      mipSeen = 0;
      Atomics.compareExchange(i32, cmdIdx, CMD_RESET, CMD_NONE);
    }
    Atomics.store(i32, stateIdx, HART_RUNNING);
    syncMip();
    hart.run(d.quantum);
    f64[pcIdx] = hart.pc;
    f64[stepsIdx] = hart.steps;
    f64[unassignedIdx] = mem.unassignedAccesses;
    if (d.faultAfterSteps !== undefined && hart.steps >= d.faultAfterSteps) throw new Error('injected fault');
    if (spinning) {
      spinning = false;
      wfiNap = wfiSpin && wfiNapping ? Math.min(2 * wfiNap, WFI_NAP_MAX_MS) : NAP_MS;
      wfiNapping = wfiSpin;
      wfiSpin = false;
      const k = Atomics.load(i32, kickIdx);
      // A kick (an interrupt line, a command) ends the nap and the doubling.
      if (Atomics.wait(i32, kickIdx, k, wfiNap) !== 'timed-out') wfiNapping = false;
    } else {
      wfiNapping = false;
      wfiSpin = false;
    }
    if (hart.waiting) {
      const k = Atomics.load(i32, kickIdx);
      syncMip();
      if (!hart.waiting || Atomics.load(i32, cmdIdx) !== CMD_NONE || sh.publishedEpoch() !== mem.epoch) continue;
      // Sleep until the hart's own Sstc deadline if one lies ahead (one that has
      // passed is already pending, and masked, or run() would have woken).
      let ms = 100;
      const dl = hart.nextTimerDeadline();
      const now = timeSource();
      if (dl > now && dl !== Infinity) ms = Math.min(ms, (dl - now) / 10_000);
      Atomics.store(i32, stateIdx, HART_WFI);
      Atomics.wait(i32, kickIdx, k, ms);
    }
  }
  Atomics.store(i32, stateIdx, HART_STOPPED);
  Atomics.store(i32, sh.w(realm, W_ALIVE), REALM_EXITED);
  const msg: HartWorkerMessage = { kind: 'stopped', hart: d.hart, pc: hart.pc, steps: hart.steps };
  ep.post(msg);
  d.port.close();
}

/** The realm's life: run the hart until told to stop; a throw is reported with the hart and its PC. */
export async function runHartRealm(ep: RealmEndpoint<HartWorkerData>): Promise<void> {
  const data = ep.data;
  ep.onExit(() => {
    const sh = new SmpShared(data.shared, data.realms);
    Atomics.store(sh.i32, sh.w(hartRealm(data.hart), W_ALIVE), REALM_EXITED);
  });
  try {
    await main(ep);
    ep.exit(0);
  } catch (e) {
    const sh = new SmpShared(data.shared, data.realms);
    const realm = hartRealm(data.hart);
    const pc = sh.f64[sh.f(realm, F_PC)]!;
    const text = e instanceof Error ? e.message : String(e);
    const message = /^hart \d+:/.test(text) ? text : `hart ${data.hart}: ${text} (last pc=0x${BigInt.asUintN(64, BigInt(pc)).toString(16)})`;
    Atomics.store(sh.i32, sh.w(realm, W_ALIVE), REALM_EXITED);
    const msg: HartWorkerMessage = { kind: 'error', hart: data.hart, message };
    ep.post(msg);
    data.port.close();
    ep.exit(1);
  }
}
