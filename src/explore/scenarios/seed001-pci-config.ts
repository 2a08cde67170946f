/**
 * Seed 001 (Xen vPCI, "move lock outside of struct vpci") on the machine's own
 * PCI code: a real gpex host (src/hw/pci/gpex.ts) with its bus, a real
 * PCI-to-PCI bridge and a function behind it, driven through ECAM config
 * accesses, the operations the MMIO handler runs, here run preemptibly so
 * the explorer parks them at every lock acquisition.
 *
 * Tasks: two vCPUs move overlapping BARs of two functions on bus 0 (command
 * off, BAR, command on); a third reads the vendor id of 01:00.0, the function
 * behind the bridge, so each access is routed through the bridge's bus-number
 * registers; the main task hot-unplugs the bridge (taking 01:00.0 with it).
 *
 * naive (injected: src/explore/policies/pci-per-function-locks.ts): per-function
 * locks, the function looked up before its lock is taken, no in-flight
 * accounting. A config access preempted between routing and locking reaches
 * 01:00.0 after the unplug freed it: a use after removal that needs the unplug
 * to run in that window. naive-abba adds the v6 patch's nested locking in
 * modify_bars (each other function's lock taken in turn under one's own, with
 * the same-class nesting annotation a validator demands): the annotation hides
 * the ABBA from the validator, so only two vCPUs interleaved (each holding its
 * own lock, each waiting for the other's) show it, as a deadlock.
 *
 * shipped: the bus's DomainLocking (src/hw/pci/locking.ts). After every step
 * each probe address reaches exactly the BAR config space says decodes there;
 * a config read that starts after the unplug reads all-ones; nothing is
 * touched after its removal.
 */
import { PCI_SECONDARY_BUS as SECONDARY_BUS, PCI_SUBORDINATE_BUS as SUBORDINATE_BUS, PciBridge } from '../../hw/pci/bridge.js';
import { PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_MEMORY, PCI_VENDOR_ID } from '../../hw/pci/constants.js';
import { PciDevice } from '../../hw/pci/device.js';
import { GpexHost } from '../../hw/pci/gpex.js';
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import { runOp, runOpPreemptible } from '../../sync/task-op.js';
import { PerFunctionLocking } from '../policies/pci-per-function-locks.js';
import type { Scenario } from '../scenario.js';

const BAR_SIZE = 0x1000;
const PROBES = [0x10000, 0x11000];

function ecamOffset(bus: number, devfn: number, reg: number): number {
  return (bus << 20) | (devfn << 12) | reg;
}

export const seed001PciConfig: Scenario = {
  name: 'seed001-pci-config',
  description: 'ECAM config accesses on the real gpex bus and a bridge: BAR moves, routed reads and hot-unplug; per-function locks vs the domain rwlock',
  variants: ['naive', 'naive-abba', 'shipped'],
  buggy: ['naive', 'naive-abba'],
  drives: ['hw/pci/gpex.ts', 'hw/pci/bus.ts', 'hw/pci/locking.ts', 'hw/pci/bridge.ts', 'hw/pci/device.ts', 'memory/lifetime.ts'],
  stepsHint: 20,
  maxSteps: 1000,
  setup(run) {
    const { env, sched } = run;
    const memory = MemoryRegion.container('pci-mem', 0x100000);
    const io = MemoryRegion.container('pci-io', 0x10000);
    const dmaRoot = MemoryRegion.container('dma', 0x100000);
    const locking = run.variant === 'shipped' ? undefined : new PerFunctionLocking(env, { nestInModifyBars: run.variant === 'naive-abba' });
    const host = new GpexHost({ dmaRoot, memory, io, syncEnv: env, locking });
    const as = new AddressSpace(memory, 'pci-mem', { log: () => {} });
    const tags = new Map<MemoryRegion, number>();
    const fns: PciDevice[] = [];
    const make = (i: number): PciDevice => {
      const d = new PciDevice({ name: `fn${i}`, vendorId: 0x1234, deviceId: 0x10 + i, classCode: 0 });
      const tag = 0xa0 + i;
      const region = MemoryRegion.io(`fn${i}.bar0`, BAR_SIZE, {
        read: () => {
          run.check(!d.removed, `${d.name}'s BAR handler ran after the function was removed`);
          return tag;
        },
      });
      tags.set(region, tag);
      d.registerBar(0, { kind: 'mem32', region });
      fns.push(d);
      return d;
    };
    const a = make(0);
    const b = make(1);
    host.addDevice(a, 0x08);
    host.addDevice(b, 0x10);
    const bridge = new PciBridge({ name: 'br0' });
    host.addDevice(bridge, 0x18);
    const e = make(2);
    bridge.addDevice(e, 0x00);
    // Firmware's enumeration, before the guest runs: the bridge forwards bus 1.
    runOp(host.ecamWriteOp(ecamOffset(0, 0x18, SECONDARY_BUS), 1, 1));
    runOp(host.ecamWriteOp(ecamOffset(0, 0x18, SUBORDINATE_BUS), 1, 1));
    run.check(runOp(host.ecamReadOp(ecamOffset(1, 0, PCI_VENDOR_ID), 2)) === 0x1234, '01:00.0 not reachable through the bridge');

    const rd = (bus: number, devfn: number, reg: number, size: number): Promise<number> => runOpPreemptible(host.ecamReadOp(ecamOffset(bus, devfn, reg), size));
    const wr = (bus: number, devfn: number, reg: number, size: number, v: number): Promise<void> => runOpPreemptible(host.ecamWriteOp(ecamOffset(bus, devfn, reg), v, size));
    const setBar = async (d: PciDevice, addr: number, decode: boolean): Promise<void> => {
      await wr(0, d.devfn, PCI_COMMAND, 2, 0);
      await wr(0, d.devfn, PCI_BASE_ADDRESS_0, 4, addr);
      if (decode) await wr(0, d.devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    };
    let unplugged = false;

    /**
     * Which function config space says decodes at addr (lowest devfn wins).
     * Reads the registers directly: the invariant runs between steps, while a
     * task may hold the domain lock, and must not take it.
     */
    function expectedAt(addr: number): number | null {
      for (const d of [a, b]) {
        const cmd = d.config.stored(PCI_COMMAND);
        const bar = d.config.stored(PCI_BASE_ADDRESS_0) & ~0xf;
        if (cmd & PCI_COMMAND_MEMORY && bar !== 0 && addr >= bar && addr < bar + BAR_SIZE) return 0xa0 + fns.indexOf(d);
      }
      return null;
    }

    sched.spawn('vcpu0', 'vcpu', async () => {
      await setBar(a, 0x10000, true);
      await setBar(a, 0x11000, false);
    });
    sched.spawn('vcpu1', 'vcpu', async () => {
      await setBar(b, 0x10000, true);
      await setBar(b, 0x11000, true);
    });
    sched.spawn('vcpu2', 'vcpu', async () => {
      for (let i = 0; i < 2; i++) {
        const after = unplugged;
        const vid = await rd(1, 0x00, PCI_VENDOR_ID, 2);
        if (after) run.check(vid === 0xffff, `config read of 01:00.0 issued after the unplug returned 0x${vid.toString(16)}`);
        else run.check(vid === 0x1234 || vid === 0xffff, `config read of 01:00.0 returned 0x${vid.toString(16)}`);
      }
    });
    sched.spawn('hotplug', 'main', async () => {
      const c = await runOpPreemptible(host.bus.unplugOp(bridge));
      run.check(c !== null, 'unplug of the bridge failed');
      unplugged = true;
    });

    return {
      invariant() {
        for (const addr of PROBES) {
          const fr = as.flatView().lookup(addr);
          const got = fr ? (tags.get(fr.mr) ?? -1) : null;
          const want = expectedAt(addr);
          run.check(got === want, `at 0x${addr.toString(16)} the map reaches ${got === null ? 'nothing' : 'tag 0x' + got.toString(16)}, config space says ${want === null ? 'nothing' : 'tag 0x' + want.toString(16)}`);
          if (fr && got !== null) {
            const r = as.load(addr, 4, MEMTXATTRS_UNSPECIFIED);
            run.check(r === 0 && as.valLo === got, `MMIO read at 0x${addr.toString(16)} returned 0x${as.valLo.toString(16)}`);
          }
        }
      },
      finish() {
        run.check(e.removed && bridge.removed, 'the bridge and the function behind it are removed');
        run.check(runOp(host.ecamReadOp(ecamOffset(1, 0, PCI_VENDOR_ID), 4)) === 0xffffffff, 'a removed function still answers config reads');
      },
      dispose() {
        // Functions own DMA address spaces, which the memory core keeps in a
        // realm-wide list until destroyed.
        for (const d of [...fns, bridge, host.root]) d.dmaAs?.destroy();
        as.destroy();
      },
    };
  },
};
