/**
 * Seed 000 (QEMU, "vcpu: introduce lockmap"): a device's MMIO handler can be
 * re-entered by its own DMA (MMIO -> DMA -> own MMIO), and two devices can DMA
 * into each other's registers; under the big lock (recursive: the seed's
 * lockmap) and per-device locks that is a self-deadlock or unbounded recursion.
 *
 * Built on the real memory core and DMA layer: devices with I/O regions owned
 * by them, their handlers taking a device Mutex (src/sync), DMA through
 * dmaRead/dmaWrite, vCPUs taking the BigLock around MMIO.
 *
 * Tasks: vcpu0 starts device A, programmed to DMA a start command into its own
 * CMD register; vcpu1 starts device B, programmed to DMA a start command into
 * C's CMD register, with C programmed to DMA one back into B's.
 *
 * naive (before QEMU 8.1: no reentrancy guard): the nested dispatch re-enters
 * the handler that holds its device lock: the validator reports the AA and the
 * task would block on itself.
 * shipped: the guard refuses the re-entrant access (ACCESS_ERROR to the DMA),
 * nothing deadlocks, and all three devices stay usable afterwards.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { deviceOwner, type DeviceOwner } from '../../memory/owner.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED, memTxAttrs, type MemTxAttrs, type MemTxResult } from '../../memory/types.js';
import { dmaRead, dmaWrite } from '../../dma/dma.js';
import { BigLock } from '../../sync/big-lock.js';
import { Mutex } from '../../sync/mutex.js';
import type { SyncEnv } from '../../sync/env.js';
import type { Scenario } from '../scenario.js';

const RAM = 0x8000_0000;
const BASE = 0x4000_0000;
const SRC = 0x0;
const DST = 0x4;
const LEN = 0x8;
const CMD = 0xc;
const SCRATCH = 0x10;
const ONE = RAM + 0x10; // RAM holding the little-endian word 1 (a start command)

class NestedDmaDevice {
  readonly owner: DeviceOwner;
  readonly mmio: MemoryRegion;
  readonly lock: Mutex;
  readonly attrs: MemTxAttrs;
  src = 0;
  dst = 0;
  len = 0;
  scratch = 0;
  last: MemTxResult = MEMTX_OK;
  dma: AddressSpace | null = null;

  constructor(env: SyncEnv, name: string, index: number) {
    this.owner = deviceOwner(name);
    this.lock = new Mutex(env, `${name}.lock`);
    this.attrs = memTxAttrs({ requesterId: index });
    this.mmio = MemoryRegion.io(
      `${name}.mmio`,
      0x100,
      {
        read: (off) => (off === SCRATCH ? this.scratch : off === CMD ? this.last : 0),
        write: (off, v) => {
          this.lock.lockSync();
          try {
            if (off === SRC) this.src = v;
            else if (off === DST) this.dst = v;
            else if (off === LEN) this.len = Math.min(v, 64);
            else if (off === SCRATCH) this.scratch = v;
            else if (off === CMD && v === 1) {
              // The DMA engine runs from the handler, with the device lock held.
              const buf = new Uint8Array(this.len);
              this.last = dmaRead(this.dma!, this.src, buf, this.attrs) | dmaWrite(this.dma!, this.dst, buf, this.attrs);
            }
          } finally {
            this.lock.unlock();
          }
        },
      },
      { owner: this.owner },
    );
  }
}

export const seed000NestedDma: Scenario = {
  name: 'seed000-nested-dma',
  description: "a device's MMIO handler DMAs into its own BAR; two devices DMA into each other's BARs",
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  stepsHint: 16,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const big = new BigLock(env);
    const sys = MemoryRegion.container('system', 2 ** 32);
    const ramMr = MemoryRegion.ram('ram', 0x1000);
    sys.addSubregion(RAM, ramMr);
    const devs = ['a', 'b', 'c'].map((n, i) => new NestedDmaDevice(env, `dev-${n}`, i + 1));
    devs.forEach((d, i) => sys.addSubregion(BASE + i * 0x1000, d.mmio));
    const as = new AddressSpace(sys, 'memory', { log: () => {} });
    for (const d of devs) {
      d.dma = as;
      if (naive) d.mmio.disableReentrancyGuard('naive variant: QEMU before 8.1 had no guard');
    }
    ramMr.ramBytes().set([1, 0, 0, 0], ONE - RAM);
    const [a, b, c] = devs as [NestedDmaDevice, NestedDmaDevice, NestedDmaDevice];
    const bar = (d: NestedDmaDevice): number => BASE + devs.indexOf(d) * 0x1000;
    const U = MEMTXATTRS_UNSPECIFIED;

    /** Program a device's DMA registers from a vCPU (under the big lock). */
    const program = (d: NestedDmaDevice, src: number, dst: number): void => {
      as.store(bar(d) + SRC, 4, src, 0, U);
      as.store(bar(d) + DST, 4, dst, 0, U);
      as.store(bar(d) + LEN, 4, 4, 0, U);
    };

    const usable = (d: NestedDmaDevice, v: number): void => {
      run.check(as.store(bar(d) + SCRATCH, 4, v, 0, U) === MEMTX_OK, `${d.owner.name} refused a plain register write`);
      as.load(bar(d) + SCRATCH, 4, U);
      run.check(as.valLo === v, `${d.owner.name} lost a register write`);
    };

    sched.spawn('vcpu0', 'vcpu', async () => {
      await big.lock();
      program(a, ONE, bar(a) + CMD);
      big.unlock();
      await sched.yield('vcpu0: A programmed');
      await big.lock();
      as.store(bar(a) + CMD, 4, 1, 0, U); // MMIO -> DMA -> own MMIO
      big.unlock();
      await sched.yield('vcpu0: A started');
      await big.lock();
      usable(a, 0xa0);
      big.unlock();
    });

    sched.spawn('vcpu1', 'vcpu', async () => {
      await big.lock();
      program(b, ONE, bar(c) + CMD);
      program(c, ONE, bar(b) + CMD);
      big.unlock();
      await sched.yield('vcpu1: B and C programmed');
      await big.lock();
      as.store(bar(b) + CMD, 4, 1, 0, U); // B -> DMA -> C -> DMA -> B
      big.unlock();
      await sched.yield('vcpu1: B started');
      await big.lock();
      usable(b, 0xb0);
      usable(c, 0xc0);
      big.unlock();
    });

    return {
      finish() {
        run.check(a.mmio.reentrancyRefusals >= 1, 'A re-entering itself was not refused');
        run.check(b.mmio.reentrancyRefusals >= 1, 'the B <-> C ping-pong was not stopped at B');
        for (const d of devs) run.check(!d.lock.locked, `${d.owner.name}'s lock was left held`);
      },
      dispose: () => as.destroy(),
    };
  },
};
