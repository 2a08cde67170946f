/** Test fixtures for PCI: a virt-like memory map with a gpex host, a manual scheduler, a recording MSI sink. */
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../../src/memory/region.js';
import { runOnBehalf } from '../../../src/sync/work.js';
import type { BottomHalf, Scheduler, Timer, WorkOwner } from '../../../src/sync/work.js';
import { irqLine } from '../../../src/hw/irq.js';
import { GpexHost, VIRT_GPEX_LAYOUT } from '../../../src/hw/pci/gpex.js';
import type { MsiSink } from '../../../src/hw/pci/bus.js';

export const RAM_BASE = 0x80000000;
export const RAM_SIZE = 0x100000;

export class RecordingMsiSink implements MsiSink {
  readonly messages: { address: number; data: number; requesterId: number }[] = [];
  deliver(address: number, data: number, requesterId: number): void {
    this.messages.push({ address, data, requesterId });
  }
}

/** A deterministic scheduler: time moves only when the test says so. */
export class ManualScheduler implements Scheduler {
  private t = 0;
  private readonly timers = new Set<{ deadline: number; cb: () => void; owner?: WorkOwner }>();
  private readonly bhs: { cb: () => void; owner?: WorkOwner; pending: boolean }[] = [];
  readonly clock = { now: (): number => this.t };

  newTimer(cb: () => void, owner?: WorkOwner): Timer {
    const entry = { deadline: 0, cb, owner };
    const timers = this.timers;
    return {
      mod(deadline: number) {
        entry.deadline = deadline;
        timers.add(entry);
      },
      del() {
        timers.delete(entry);
      },
      get pending() {
        return timers.has(entry);
      },
    };
  }

  newBottomHalf(cb: () => void, owner?: WorkOwner): BottomHalf {
    const bh = { cb, owner, pending: false };
    this.bhs.push(bh);
    return {
      schedule() {
        bh.pending = true;
      },
      cancel() {
        bh.pending = false;
      },
    };
  }

  /** Run pending bottom halves, then advance time by `ns`, firing due timers in deadline order. */
  advance(ns = 0): void {
    this.runBhs();
    const end = this.t + ns;
    for (;;) {
      let next: { deadline: number; cb: () => void; owner?: WorkOwner } | null = null;
      for (const e of this.timers) if (e.deadline <= end && (!next || e.deadline < next.deadline)) next = e;
      if (!next) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.deadline);
      runOnBehalf(next.owner as never, next.cb);
      this.runBhs();
    }
    this.t = end;
  }

  private runBhs(): void {
    for (let again = true; again; ) {
      again = false;
      for (const bh of this.bhs) {
        if (!bh.pending) continue;
        bh.pending = false;
        again = true;
        runOnBehalf(bh.owner as never, bh.cb);
      }
    }
  }
}

export interface Rig {
  system: MemoryRegion;
  ram: MemoryRegion;
  as: AddressSpace;
  host: GpexHost;
  sink: RecordingMsiSink;
  irqLevels: boolean[];
  sched: ManualScheduler;
  cfgRead(devfn: number, off: number, size: number): number;
  cfgWrite(devfn: number, off: number, size: number, v: number): void;
}

/** System memory with RAM at 0x80000000 and a gpex host at QEMU virt's addresses. */
export function makeRig(): Rig {
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const ram = MemoryRegion.ram('ram', RAM_SIZE);
  system.addSubregion(RAM_BASE, ram);
  const sink = new RecordingMsiSink();
  const irqLevels = [false, false, false, false];
  const host = new GpexHost({
    dmaRoot: system,
    sysmem: system,
    msiSink: sink,
    irqs: [0, 1, 2, 3].map((i) => irqLine((l) => (irqLevels[i] = l))),
  });
  const as = new AddressSpace(system, 'cpu');
  const ecam = VIRT_GPEX_LAYOUT.ecam.base;
  const cfgAddr = (devfn: number, off: number) => ecam + ((devfn << 12) | off);
  const cfgRead = (devfn: number, off: number, size: number): number => {
    as.load(cfgAddr(devfn, off), size, { requesterId: 0, secure: false, user: false, memoryOnly: false });
    return as.valLo;
  };
  const cfgWrite = (devfn: number, off: number, size: number, v: number): void => {
    as.store(cfgAddr(devfn, off), size, v >>> 0, 0, { requesterId: 0, secure: false, user: false, memoryOnly: false });
  };
  return { system, ram, as, host, sink, irqLevels, sched: new ManualScheduler(), cfgRead, cfgWrite };
}

/** Tear a rig down so its address spaces stop being re-rendered (property tests build many). */
export function disposeRig(r: Rig): void {
  for (const d of r.host.bus.devices()) r.host.removeDevice(d);
  r.as.destroy();
}
