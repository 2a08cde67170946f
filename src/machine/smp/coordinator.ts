/**
 * The main realm's side of SMP: harts in worker realms.
 *
 * The coordinator owns the shared control block, spawns one worker per hart
 * with guest RAM shared, publishes a flat-view snapshot on every change of
 * the system address space (and retires devices that left the map after the
 * grace period), answers the harts' device requests from the main realm's
 * mailbox, drives the event loop's timers and bottom halves while the harts
 * run, and turns a worker that throws or dies into a machine stop that names
 * the hart and its PC.
 *
 * The main realm never blocks on a hart: interrupt lines are shared words
 * (Atomics.or/and plus a wake-up), grace periods are polled, and pausing the
 * harts (for a reset) is awaited asynchronously while requests keep being
 * served.
 */
import type { HostServices, RealmWorker } from '../../host/types.js';
import { monotonicNs } from '../../host/clock.js';
import { defaultHost } from '../../host/default.js';
import { yieldToHost } from '../../host/tasks.js';
import type { AddressSpace } from '../../memory/address-space.js';
import type { MemoryListener } from '../../memory/listener.js';
import type { SyncEnv } from '../../sync/env.js';
import { NS_PER_TICK, type InterruptTarget } from '../../hw/intc/clint.js';
import { GracePeriods } from './epoch.js';
import { hartLines, SharedMsip } from './shared-lines.js';
import { HomeDevices } from './home-devices.js';
import { MailboxClient, MailboxServer } from './mailbox.js';
import type { IoThreadReady } from './io-thread-types.js';
import type { IoThreadWorkerData } from './io-thread-worker.js';
import { MemoryRegion as Region } from '../../memory/region.js';
import { type MemTxAttrs, type MemTxResult } from '../../memory/types.js';
import type { HartWorkerData, HartWorkerMessage } from './hart-realm.js';
import {
  CMD_NONE,
  CMD_PAUSE,
  CMD_RESET,
  CMD_STOP,
  F_CMD_ARG,
  F_PC,
  F_STEPS,
  F_UNASSIGNED,
  G_STOP,
  GF_CLOCK_BASE_NS,
  GF_MTIME_DELTA,
  HART_PAUSED,
  OP_DEV_READ,
  OP_DEV_WRITE,
  MAIN_REALM,
  REALM_EXITED,
  REALM_RUNNING,
  SmpShared,
  W_ACK,
  W_ALIVE,
  W_CMD,
  W_STATE,
  hartRealm,
} from './shared.js';
import type { SnapshotData } from './snapshot.js';
import type { HartStateArea } from '../../cpu/riscv/state-area.js';
import { SnapshotPublisher } from './publisher.js';
import { allocateSerialShare, PORTABLE_SERIAL, SerialPosting } from './posted-serial.js';
import type { Serial } from '../../hw/char/serial.js';
import { CodeSync } from '../../cpu/riscv/jit/code-sync.js';
import type { HartState } from '../hart-state.js';

/** What the coordinator drives in the main realm (EventLoop satisfies it). */
export interface DrivenLoop {
  readonly clock: { now(): number };
  readonly isStopped: boolean;
  runTimers(): number;
  runBottomHalves(): number;
  nextDeadline(): number;
}

export interface SmpCoordinatorOptions {
  /** The harts' address space (the machine's system memory). */
  as: AddressSpace;
  harts: number;
  /** Extra realms (I/O threads) numbered after the harts; default 0. */
  ioThreads?: number;
  log?: (line: string) => void;
  /** Instructions per hart quantum (between boundary checks); default 8192. */
  quantum?: number;
  env?: SyncEnv;
  /** Hart options: translate hot code (default on), and the code-page record all harts share. */
  translate?: boolean;
  /** Entries before a block is translated (default: the translator's, HOT_THRESHOLD). */
  translateThreshold?: number;
  /** Entries before a page's warm code is written as a region (0 or absent: none). */
  regionThreshold?: number;
  codeSync?: SharedArrayBuffer;
  /** Translated modules the harts share (CodeShare.allocate()); none if absent. */
  codeShare?: SharedArrayBuffer;
  /** Hit counters the harts share (Hart's sharedHits); none if absent. */
  sharedHits?: number;
  /** Per hart: its state area in the guest-RAM memory (src/cpu/riscv/state-area.ts); private areas if absent. */
  hartStates?: readonly HartStateArea[];
  /** Failure-handling tests: make one hart's worker throw after this many instructions. */
  faultInjection?: { hart: number; afterSteps: number };
  /** Where realm workers come from (Node worker threads or Web Workers); default: the platform's. */
  host?: HostServices;
}

export class SmpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmpError';
  }
}

const hrNow = monotonicNs;

export class SmpCoordinator {
  readonly shared: SmpShared;
  readonly harts: number;
  /** Interrupt targets for the CLINT and PLIC, one per hart. */
  readonly lines: readonly InterruptTarget[];
  /** The CLINT's MSIP bits, which hart realms access themselves (shared-lines.ts). */
  readonly msip: SharedMsip;
  readonly home: HomeDevices;
  readonly grace: GracePeriods;
  readonly server: MailboxServer;
  /** Called once when a realm fails (the machine stops with this message). */
  onFatal: (message: string) => void = () => {};
  failure: string | null = null;

  private readonly as: AddressSpace;
  private readonly log: (line: string) => void;
  private readonly quantum: number;
  private serialPosting: SerialPosting | null = null;
  private serialShare: SharedArrayBuffer | undefined = undefined;
  private readonly hartOpts: { translate?: boolean; translateThreshold?: number; regionThreshold?: number; codeSync: SharedArrayBuffer; codeShare?: SharedArrayBuffer; sharedHits?: number; states: readonly HartStateArea[] };
  private readonly workers: (RealmWorker | null)[] = [];
  private readonly host: HostServices;
  private readonly ports: MessagePort[] = [];
  private readonly exited: Promise<void>[] = [];
  readonly publisher: SnapshotPublisher;
  private readonly listener: MemoryListener;
  private clockNow: () => number = () => 0;
  /** The CLINT's mtime at a machine-clock instant (ns). */
  private mtimeAt: ((clockNs: number) => number) | null = null;
  private started = false;
  private readonly ioThreads: number;
  private readonly faultInjection: { hart: number; afterSteps: number } | null;
  private mainClient: MailboxClient | null = null;
  private stopping = false;
  /** Each hart's state as posted on entering its latest pause (null while it runs). */
  private readonly states: (HartState | null)[] = [];

  constructor(opts: SmpCoordinatorOptions) {
    const n = opts.harts;
    if (!(Number.isInteger(n) && n >= 0 && n <= 512)) throw new SmpError(`SMP: ${n} harts`);
    this.ioThreads = opts.ioThreads ?? 0;
    this.faultInjection = opts.faultInjection ?? null;
    this.harts = n;
    this.as = opts.as;
    this.host = opts.host ?? defaultHost;
    this.log = opts.log ?? this.host.log;
    this.quantum = opts.quantum ?? 8192;
    this.hartOpts = { translate: opts.translate, translateThreshold: opts.translateThreshold, regionThreshold: opts.regionThreshold, codeSync: opts.codeSync ?? CodeSync.allocate(), codeShare: opts.codeShare, sharedHits: opts.sharedHits, states: opts.hartStates ?? [] };
    const realms = 1 + n + (opts.ioThreads ?? 0);
    this.shared = SmpShared.create(realms);
    const lines = hartLines(this.shared, n, this.hartOpts.states);
    this.lines = lines;
    this.msip = new SharedMsip(lines);
    const readers: number[] = [];
    for (let r = 1; r < realms; r++) readers.push(r);
    this.grace = new GracePeriods(this.shared, readers);
    this.home = new HomeDevices({ realm: MAIN_REALM, addressSpace: this.as, log: this.log });
    this.server = new MailboxServer(this.shared, MAIN_REALM, this.home, () => this.serialPosting?.pending() ?? false);
    this.shared.store(MAIN_REALM, W_ALIVE, REALM_RUNNING);
    this.publisher = new SnapshotPublisher(this.as, this.home, this.grace, this.shared, this.hartOpts.states[0]?.memory.buffer ?? null);
    this.publisher.sinks.push((snap) => {
      for (const p of this.ports) p.postMessage({ kind: 'snapshot', data: snap });
    });
    this.listener = { commit: () => this.publisher.maybePublish() };
    this.as.addListener(this.listener);
  }

  /**
   * Let hart realms run `mr`'s accesses themselves, with the region they build for `kind`
   * (shared-lines.ts: portableRegions); other realms still reach it by request.
   */
  setPortable(mr: Region, kind: string): void {
    this.home.setPortable(mr, kind);
  }

  /**
   * Let hart realms read the console UART's LSR and post its THR bytes without a request
   * (posted-serial.ts). Before start().
   */
  postSerial(serial: Serial): void {
    const buffer = allocateSerialShare();
    this.serialPosting = new SerialPosting(serial, buffer);
    this.serialShare = buffer;
    this.setPortable(serial.mr, PORTABLE_SERIAL);
  }

  /**
   * The machine clock (ns) and the CLINT's mtime at an instant of it, from which hart realms
   * derive their `time` CSR.
   */
  attachClock(clockNowNs: () => number, mtimeAt: (clockNs: number) => number): void {
    this.clockNow = clockNowNs;
    this.mtimeAt = mtimeAt;
    this.updateClock();
  }

  /** The current snapshot (as published to the other realms). */
  get currentSnapshot(): SnapshotData {
    return this.publisher.current;
  }

  /**
   * Publish the clock base and the mtime offset. Always publishes: a hart realm without them
   * counts from the host's boot (hours of ticks), and when they arrived later its `time` went
   * back by as much. (Sampling mtime between two reads of the clock and giving up when those
   * straddled a tick did just that, four times running, in a cold process: Linux on hart 0
   * then armed its tick hours ahead and an SMP boot hung in its misaligned-access probe.)
   */
  private updateClock(): void {
    if (this.mtimeAt === null) return;
    // The machine clock counts host ns (minus time paused), so host - machine is constant;
    // sampled where the two host reads around the machine clock's lie closest.
    let base = NaN;
    let window = Infinity;
    for (let tries = 0; tries < 8 && window > 1000; tries++) {
      const h0 = hrNow();
      const c = this.clockNow();
      const h1 = hrNow();
      if (h1 - h0 < window) {
        window = h1 - h0;
        base = (h0 + h1) / 2 - c;
      }
    }
    this.shared.f64[GF_CLOCK_BASE_NS] = base;
    this.updateMtimeDelta();
  }

  /** Publish the mtime offset alone (a guest write to mtime changes it, not the clock base). */
  private updateMtimeDelta(): void {
    const mt = this.mtimeAt;
    if (mt === null) return;
    const c = this.clockNow();
    this.shared.f64[GF_MTIME_DELTA] = mt(c) - Math.floor(c / NS_PER_TICK);
  }

  /** Spawn the hart workers, each starting at `resetPc`; resolves when all run (or one failed: see onFatal). */
  async start(resetPc: number, opts: { paused?: boolean } = {}): Promise<void> {
    if (this.started) throw new SmpError('SMP: already started');
    this.started = true;
    this.updateClock();
    // -S: every hart parks before its first instruction.
    if (opts.paused) for (let h = 0; h < this.harts; h++) this.shared.store(hartRealm(h), W_CMD, CMD_PAUSE);
    const running: Promise<void>[] = [];
    for (let h = 0; h < this.harts; h++) {
      const { port1, port2 } = new MessageChannel();
      this.ports.push(port1);
      const data: HartWorkerData = {
        shared: this.shared.buffer,
        realms: this.shared.realms,
        harts: this.harts,
        hart: h,
        port: port2,
        snapshot: this.publisher.current,
        resetPc,
        quantum: this.quantum,
        translate: this.hartOpts.translate,
        translateThreshold: this.hartOpts.translateThreshold,
        regionThreshold: this.hartOpts.regionThreshold,
        codeSync: this.hartOpts.codeSync,
        codeShare: this.hartOpts.codeShare,
        sharedHits: this.hartOpts.sharedHits,
        serialShare: this.serialShare,
        state: this.hartOpts.states[h],
        states: this.hartOpts.states,
        faultAfterSteps: this.faultInjection?.hart === h ? this.faultInjection.afterSteps : undefined,
      };
      const realm = hartRealm(h);
      // The worker holds this snapshot from birth: grace periods count it from now.
      this.shared.store(realm, W_ACK, data.snapshot.epoch);
      let w: RealmWorker;
      try {
        w = this.host.spawnRealm('hart', data, [port2]);
      } catch (e) {
        this.fail(`hart ${h}: cannot start a worker: ${(e as Error).message}`);
        break;
      }
      this.workers.push(w);
      w.onMessage((msg) => {
        const m = msg as HartWorkerMessage;
        if (m.kind === 'error') this.fail(m.message);
        else if (m.kind === 'state') this.states[m.hart] = m.state;
      });
      w.onError((e) => this.fail(`hart ${h}: worker failed: ${e}${this.pcText(h)}`));
      this.exited.push(
        new Promise<void>((resolve) => {
          w.onExit((code) => {
            this.shared.store(realm, W_ALIVE, REALM_EXITED);
            this.workers[h] = null;
            if (!this.stopping && this.failure === null) {
              this.fail(`hart ${h}: worker exited (code ${code})${this.pcText(h)}`);
            }
            resolve();
          });
        }),
      );
      running.push(this.until(() => this.shared.load(realm, W_ALIVE) !== 0, `hart ${h} to start`));
    }
    try {
      await Promise.all(running);
    } catch (e) {
      // A realm that failed while starting has already stopped the machine (onFatal).
      if (this.failure === null) throw e;
    }
  }

  private pcText(h: number): string {
    const pc = this.shared.f64[this.shared.f(hartRealm(h), F_PC)]!;
    return ` at pc=0x${BigInt.asUintN(64, BigInt(Math.trunc(pc))).toString(16)}`;
  }

  /** The PC a hart had at its last quantum boundary. */
  hartPc(h: number): number {
    return this.shared.f64[this.shared.f(hartRealm(h), F_PC)]!;
  }

  /** Accesses to unassigned addresses made by the hart realms (at their last boundaries). */
  unassignedAccesses(): number {
    let n = 0;
    for (let h = 0; h < this.harts; h++) n += this.shared.f64[this.shared.f(hartRealm(h), F_UNASSIGNED)]!;
    return n;
  }

  /** Instructions a hart has executed (at its last quantum boundary). */
  hartSteps(h: number): number {
    return this.shared.f64[this.shared.f(hartRealm(h), F_STEPS)]!;
  }

  private fail(message: string): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = message;
    // Nobody may stay blocked on a failed machine: every wait checks the stop flag.
    Atomics.store(this.shared.i32, G_STOP, 1);
    for (let r = 0; r < this.shared.realms; r++) this.shared.kick(r);
    this.onFatal(message);
  }

  /** Wait (serving requests meanwhile) until cond holds; rejects after timeoutMs. */
  private async until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.failure !== null) throw new SmpError(this.failure);
      if (Date.now() > end) throw new SmpError(`SMP: timed out waiting for ${what}`);
      this.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Serve pending requests, complete grace periods; returns the work done. */
  poll(): number {
    let n = 0;
    if (this.server.pending()) {
      n = this.server.poll();
      // A served write may have changed mtime (re-sampling the base here would let the
      // harts' time step back by its sampling error).
      this.updateMtimeDelta();
    }
    if (this.grace.waiting > 0) n += this.grace.poll();
    if (this.serialPosting !== null) n += this.serialPosting.drain();
    return n;
  }

  /** Resolves once no realm can reach `mr` (see HomeDevices.whenUnreachable). */
  whenUnreachable(mr: Region): Promise<void> {
    return this.home.whenUnreachable(mr);
  }

  /**
   * Start I/O-thread realm `index` (0-based, numbered after the harts), load
   * `moduleUrl` there (an IoThreadModule) and return a proxy region per
   * device it created, keyed by name. Map the proxies like any region: hart
   * realms reach the device directly through the I/O thread's mailbox; main
   * realm accesses through the proxy block until the I/O thread answers.
   */
  async startIoThread(index: number, moduleUrl: string, options: Record<string, unknown> = {}): Promise<Map<string, Region>> {
    if (!(Number.isInteger(index) && index >= 0 && index < this.ioThreads)) throw new SmpError(`SMP: no I/O thread ${index}`);
    const realm = 1 + this.harts + index;
    const { port1, port2 } = new MessageChannel();
    this.ports.push(port1);
    const data: IoThreadWorkerData = {
      shared: this.shared.buffer,
      realms: this.shared.realms,
      realm,
      // The global MessagePort is worker_threads' own in Node (the I/O-thread entry is Node-only).
      port: port2 as unknown as IoThreadWorkerData['port'],
      snapshot: this.publisher.current,
      module: moduleUrl,
      options,
    };
    this.shared.store(realm, W_ACK, data.snapshot.epoch);
    const w = this.host.spawnRealm('io', data, [port2]);
    this.workers.push(w);
    const ready = new Promise<IoThreadReady>((resolve, reject) => {
      w.onMessage((msg) => {
        const m = msg as IoThreadReady | { kind: 'error'; message: string };
        if (m.kind === 'ready') resolve(m);
        else {
          reject(new SmpError(m.message));
          this.fail(m.message);
        }
      });
      w.onError((e) => {
        reject(new SmpError(e));
        this.fail(`I/O thread realm ${realm}: ${e}`);
      });
    });
    this.exited.push(
      new Promise<void>((resolve) => {
        w.onExit((code) => {
          this.shared.store(realm, W_ALIVE, REALM_EXITED);
          if (!this.stopping && this.failure === null) this.fail(`I/O thread realm ${realm}: worker exited (code ${code})`);
          resolve();
        });
      }),
    );
    const r = await ready;
    if (this.mainClient === null) this.mainClient = new MailboxClient(this.shared, MAIN_REALM, { deviceRealm: true, log: this.log });
    const client = this.mainClient;
    const out = new Map<string, Region>();
    for (const dev of r.devices) {
      const proxy = Region.io(dev.name, dev.size, {
        readWithAttrs: (off: number, size: number, attrs: MemTxAttrs, o: Uint32Array): MemTxResult => {
          const res = client.request(realm, OP_DEV_READ, dev.dev, off, size, 0, 0, attrs);
          o[0] = client.valLo;
          o[1] = client.valHi;
          return res;
        },
        writeWithAttrs: (off: number, value: number, size: number, attrs: MemTxAttrs, hi: number): MemTxResult =>
          client.request(realm, OP_DEV_WRITE, dev.dev, off, size, value, hi, attrs),
        // Any access whole, in one request: the device's own region splits it as it must.
        valid: { min: 1, max: 8, unaligned: true },
        impl: { min: 1, max: 8, unaligned: true },
      });
      this.home.setRemote(proxy, { realm, dev: dev.dev });
      out.set(dev.name, proxy);
    }
    return out;
  }

  /** Stop every hart at its next quantum boundary; resolves when all are paused (requests are served meanwhile). */
  async pauseAll(): Promise<void> {
    for (let h = 0; h < this.harts; h++) {
      const r = hartRealm(h);
      if (this.shared.load(r, W_STATE) !== HART_PAUSED) this.states[h] = null;
      this.shared.store(r, W_CMD, CMD_PAUSE);
      this.shared.kick(r);
    }
    await this.until(() => {
      for (let h = 0; h < this.harts; h++) {
        const r = hartRealm(h);
        if (this.shared.load(r, W_ALIVE) === REALM_RUNNING && this.shared.load(r, W_STATE) !== HART_PAUSED) return false;
      }
      return true;
    }, 'harts to pause');
  }

  /** Reset every hart to `pc` and let it run (after pauseAll, for a system reset). */
  resetHarts(pc: number): void {
    for (let h = 0; h < this.harts; h++) {
      const r = hartRealm(h);
      this.shared.f64[this.shared.f(r, F_CMD_ARG)] = pc;
      this.shared.store(r, W_CMD, CMD_RESET);
      this.shared.kick(r);
    }
  }

  /** Every hart's state at its pause (after pauseAll; waits for the workers' reports). */
  async pausedStates(): Promise<HartState[]> {
    await this.until(() => {
      for (let h = 0; h < this.harts; h++) {
        if (this.states[h] == null && this.shared.load(hartRealm(h), W_ALIVE) === REALM_RUNNING) return false;
      }
      return true;
    }, 'hart states');
    return this.states.slice(0, this.harts).filter((s): s is HartState => s != null);
  }

  /** Let paused harts continue (the clock may have stood still meanwhile: the harts get its new base). */
  resumeAll(): void {
    this.updateClock();
    for (let h = 0; h < this.harts; h++) {
      const r = hartRealm(h);
      Atomics.compareExchange(this.shared.i32, this.shared.w(r, W_CMD), CMD_PAUSE, CMD_NONE);
      this.states[h] = null;
      this.shared.kick(r);
    }
  }

  /** Wake the main realm's idle wait (input arrived, a bottom half was scheduled, exit requested). */
  wake(): void {
    this.shared.kick(MAIN_REALM);
  }

  /**
   * Run the main realm while the harts run: answer requests, run timers and
   * bottom halves, sleep on the doorbell when idle. Returns when the loop is
   * stopped or a realm failed.
   */
  async drive(loop: DrivenLoop, opts: { spinUs?: number; sliceMs?: number; maxIdleMs?: number } = {}): Promise<void> {
    const spinNs = (opts.spinUs ?? 100) * 1000;
    const sliceNs = (opts.sliceMs ?? 4) * 1e6;
    const maxIdleMs = opts.maxIdleMs ?? 50;
    let lastWork = hrNow();
    let sliceStart = lastWork;
    while (!loop.isStopped && this.failure === null) {
      let work = this.poll();
      work += loop.runTimers();
      work += loop.runBottomHalves();
      if (loop.isStopped || this.failure !== null) break;
      const now = hrNow();
      if (work > 0) lastWork = now;
      if (now - sliceStart >= sliceNs) {
        await yieldToHost();
        sliceStart = hrNow();
        continue;
      }
      if (now - lastWork < spinNs) continue;
      const d = loop.nextDeadline();
      let ms = maxIdleMs;
      if (d !== Infinity) ms = Math.min(ms, Math.max(0, (d - loop.clock.now()) / 1e6));
      if (this.grace.waiting > 0) ms = Math.min(ms, 1);
      await this.server.waitAsync(ms);
      sliceStart = hrNow();
    }
  }

  /** Stop every hart realm; resolves when all workers have exited (terminating stragglers). */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    Atomics.store(this.shared.i32, G_STOP, 1);
    for (let h = 0; h < this.harts; h++) {
      this.shared.store(hartRealm(h), W_CMD, CMD_STOP);
      this.shared.kick(hartRealm(h));
    }
    const all = Promise.all(this.exited);
    let done = false;
    void all.then(() => (done = true));
    const end = Date.now() + timeoutMs;
    while (!done && Date.now() < end) {
      this.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
    for (const w of this.workers) if (w) await w.terminate();
    for (let r = 1; r < this.shared.realms; r++) this.shared.store(r, W_ALIVE, REALM_EXITED);
    for (const p of this.ports) p.close();
    // No reader is left: every pending grace period (and the retirements behind it) completes.
    this.grace.poll();
    this.as.removeListener(this.listener);
  }
}
