/**
 * Seed 000 (QEMU, "vcpu: introduce lockmap"): a device's I/O can be re-entered
 * by its own DMA through another device (MMIO -> DMA -> B's MMIO -> DMA -> own
 * MMIO); the seed's answer, a recursive big lock, only hides the recursion.
 *
 * The machine's mechanisms are real: the memory core's dispatch and its
 * per-transaction reentrancy guard (src/memory/dispatch.ts, owner.ts,
 * dispatch-context.ts), DMA through dmaRead/dmaWrite (src/dma/dma.ts), bottom
 * halves run on behalf of their device (runOnBehalf, src/sync/work.ts) and the
 * recursive big lock (src/sync/big-lock.ts) that vCPUs hold around MMIO. The
 * two devices are small DMA engines like edu's: SRC, DST, LEN and CMD
 * registers; CMD=1 runs the transfer from the handler, CMD=2 latches it for
 * the device's bottom half; a transfer is one-shot (LEN clears when it starts).
 *
 * Tasks: vcpu0 programs A to DMA a start command into B's CMD, then starts A
 * from the vCPU; vcpu1 programs B to DMA a start command into A's CMD, then
 * kicks B's bottom half (the main loop, a third task, runs it). Run one after
 * the other, each transfer finds the other device idle (LEN 0) and nothing
 * nests. Only when a device is programmed while the other's transfer runs
 * (vcpu1 preempted between programming and kicking, or vcpu0 between
 * programming and starting while B's bottom half runs) does the chain close
 * back on the device whose transfer is running: a re-entry that needs the
 * tasks interleaved.
 *
 * naive (QEMU before 8.1: the guard opted out on the devices' regions): the
 * re-entrant start runs the device's DMA engine while its own transfer is in
 * progress (the model checks that), and would recurse without bound.
 * shipped: the guard refuses the re-entrant access (MEMTX_ACCESS_ERROR to the
 * inner DMA); nothing recurses and both devices stay usable.
 */
import { dmaRead, dmaWrite } from '../../dma/dma.js';
import { AddressSpace } from '../../memory/address-space.js';
import { deviceOwner, type DeviceOwner } from '../../memory/owner.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED, memTxAttrs, type MemTxAttrs, type MemTxResult } from '../../memory/types.js';
import { BigLock } from '../../sync/big-lock.js';
import { runOnBehalf } from '../../sync/work.js';
import type { Scenario, ScenarioRun } from '../scenario.js';

const RAM = 0x8000_0000;
const BASE = 0x4000_0000;
const SRC = 0x0;
const DST = 0x4;
const LEN = 0x8;
const CMD = 0xc;
const SCRATCH = 0x10;
const ONE = RAM + 0x10; // RAM holding the little-endian word 1 (a start command)

class DmaEngine {
  readonly owner: DeviceOwner;
  readonly mmio: MemoryRegion;
  readonly attrs: MemTxAttrs;
  src = 0;
  dst = 0;
  len = 0;
  scratch = 0;
  last: MemTxResult = MEMTX_OK;
  /** A transfer is in progress (set by the engine, for the re-entry check). */
  running = false;
  bhPending = false;
  dma: AddressSpace | null = null;

  constructor(
    private readonly run: ScenarioRun,
    name: string,
    index: number,
  ) {
    this.owner = deviceOwner(name);
    this.attrs = memTxAttrs({ requesterId: index });
    this.mmio = MemoryRegion.io(
      `${name}.mmio`,
      0x100,
      {
        read: (off) => (off === SCRATCH ? this.scratch : off === CMD ? this.last : 0),
        write: (off, v) => {
          if (off === SRC) this.src = v;
          else if (off === DST) this.dst = v;
          else if (off === LEN) this.len = Math.min(v, 64);
          else if (off === SCRATCH) this.scratch = v;
          else if (off === CMD && v === 1) this.start();
          else if (off === CMD && v === 2) this.kick();
        },
      },
      { owner: this.owner },
    );
  }

  private job = { src: 0, dst: 0, len: 0 };

  /** CMD=1: run the programmed transfer now, from the handler. One-shot: LEN clears. */
  start(): void {
    this.run.check(!this.running, `${this.owner.name}'s DMA engine was re-entered by its own transfer (MMIO -> DMA -> ... -> own MMIO)`);
    this.latch();
    this.runJob();
  }

  /** CMD=2: latch the programmed transfer (LEN clears) and leave it to the bottom half. */
  kick(): void {
    this.latch();
    this.bhPending = true;
  }

  /** The bottom half's work. */
  runJob(): void {
    const j = this.job;
    if (j.len === 0) return;
    this.running = true;
    try {
      const buf = new Uint8Array(j.len);
      this.last = dmaRead(this.dma!, j.src, buf, this.attrs) | dmaWrite(this.dma!, j.dst, buf, this.attrs);
      j.len = 0;
    } finally {
      this.running = false;
    }
  }

  private latch(): void {
    this.job = { src: this.src, dst: this.dst, len: this.len };
    this.len = 0;
  }
}

export const seed000NestedDma: Scenario = {
  name: 'seed000-nested-dma',
  description: "two DMA engines programmed to start each other, started from a vCPU and from a bottom half: the chain closes on its starter only when interleaved",
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['memory/dispatch.ts', 'memory/owner.ts', 'memory/dispatch-context.ts', 'dma/dma.ts', 'sync/work.ts', 'sync/big-lock.ts'],
  stepsHint: 16,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const big = new BigLock(env);
    const sys = MemoryRegion.container('system', 2 ** 32);
    const ramMr = MemoryRegion.ram('ram', 0x1000);
    sys.addSubregion(RAM, ramMr);
    const devs = ['a', 'b'].map((n, i) => new DmaEngine(run, `dev-${n}`, i + 1));
    devs.forEach((d, i) => sys.addSubregion(BASE + i * 0x1000, d.mmio));
    const as = new AddressSpace(sys, 'memory', { log: () => {} });
    for (const d of devs) {
      d.dma = as;
      if (naive) d.mmio.disableReentrancyGuard('naive variant: QEMU before 8.1 had no guard');
    }
    ramMr.ramBytes().set([1, 0, 0, 0], ONE - RAM);
    const [a, b] = devs as [DmaEngine, DmaEngine];
    const bar = (d: DmaEngine): number => BASE + devs.indexOf(d) * 0x1000;
    const U = MEMTXATTRS_UNSPECIFIED;
    let bFinished = false;

    /** A vCPU's MMIO write, under the (recursive) big lock. */
    const mmio = async (addr: number, v: number): Promise<void> => {
      await big.lock();
      try {
        as.store(addr, 4, v, 0, U);
      } finally {
        big.unlock();
      }
    };
    const program = async (d: DmaEngine, dst: number): Promise<void> => {
      await mmio(bar(d) + SRC, ONE);
      await mmio(bar(d) + DST, dst);
      await mmio(bar(d) + LEN, 4);
    };
    const usable = (d: DmaEngine, v: number): void => {
      run.check(as.store(bar(d) + SCRATCH, 4, v, 0, U) === MEMTX_OK, `${d.owner.name} refused a plain register write`);
      as.load(bar(d) + SCRATCH, 4, U);
      run.check(as.valLo === v, `${d.owner.name} lost a register write`);
    };

    sched.spawn('vcpu0', 'vcpu', async () => {
      await program(a, bar(b) + CMD);
      await mmio(bar(a) + CMD, 1); // A's transfer runs in the handler
    });
    sched.spawn('vcpu1', 'vcpu', async () => {
      await program(b, bar(a) + CMD);
      await mmio(bar(b) + CMD, 2); // B's transfer runs in its bottom half
    });
    sched.spawn('main-loop', 'main', async () => {
      // The main loop's bottom-half dispatch, for B's BH: run it once it is kicked.
      await env.tasks.waitUntil("B's bottom half scheduled", () => b.bhPending);
      b.bhPending = false;
      await big.lock();
      try {
        runOnBehalf(b.owner, () => b.runJob());
      } finally {
        big.unlock();
      }
      bFinished = true;
    });

    return {
      finish() {
        run.check(bFinished, "B's bottom half ran");
        usable(a, 0xa0);
        usable(b, 0xb0);
      },
      dispose: () => as.destroy(),
    };
  },
};
