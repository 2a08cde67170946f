/**
 * Seed 001's shipped design on the real PCI bus (src/hw/pci/bus.ts): the
 * domain rwlock and function mutexes built with the run's env, so the
 * validator checks the real lock paths, while vCPUs reprogram overlapping
 * BARs, read config space and MMIO of a function being hot-unplugged.
 *
 * The tasks use the bus's *Async operations, which park at every domain and
 * function lock acquisition, so the explorer interleaves inside config
 * accesses, BAR updates and removal. After every step the memory map must be
 * a function of config space alone: at each probe
 * address, the MMIO access reaches the BAR that the config registers say
 * decodes there (lowest requester id wins an overlap), or nothing. A removed
 * function reads all-ones and its BAR is never reached.
 *
 * Only the shipped variant exists: the naive per-device-lock design is not
 * something the real bus can be configured into (see seed001-bar-mapping).
 */
import { PciBus } from '../../hw/pci/bus.js';
import { PciDevice } from '../../hw/pci/device.js';
import { PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_MEMORY, PCI_VENDOR_ID } from '../../hw/pci/constants.js';
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import type { Scenario } from '../scenario.js';

const BAR_SIZE = 0x1000;
const PROBES = [0x10000, 0x11000, 0x20000];

export const seed001PciBus: Scenario = {
  name: 'seed001-pci-bus',
  description: 'the shipped seed 001 design on the real PCI bus (async operations): overlapping BAR updates, config reads and hot-unplug',
  variants: ['shipped'],
  buggy: [],
  stepsHint: 16,
  maxSteps: 1000,
  setup(run) {
    const { env, sched } = run;
    const memory = MemoryRegion.container('pci-mem', 0x100000);
    const io = MemoryRegion.container('pci-io', 0x10000);
    const dmaRoot = MemoryRegion.container('dma', 0x100000);
    const bus = new PciBus({ memory, io, dmaRoot, syncEnv: env });
    const as = new AddressSpace(memory, 'pci-mem', { log: () => {} });
    const tags = new Map<MemoryRegion, number>();
    const fns: PciDevice[] = [];
    for (const [i, devfn] of [0x08, 0x10, 0x18].entries()) {
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
      bus.addDevice(d, devfn);
      fns.push(d);
    }
    const [a, b, c] = fns as [PciDevice, PciDevice, PciDevice];
    const setBar = async (d: PciDevice, addr: number, decode: boolean): Promise<void> => {
      await bus.configWriteAsync(d.devfn, PCI_COMMAND, 2, 0);
      await bus.configWriteAsync(d.devfn, PCI_BASE_ADDRESS_0, 4, addr);
      if (decode) await bus.configWriteAsync(d.devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    };
    const removed = new Set<PciDevice>();
    bus.configWrite(c.devfn, PCI_BASE_ADDRESS_0, 4, 0x20000);
    bus.configWrite(c.devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);

    /**
     * Which function config space says decodes at addr (lowest devfn wins).
     * Reads the registers directly: the invariant runs between steps, while a
     * task may hold the domain lock, and must not take it.
     */
    function expectedAt(addr: number): number | null {
      for (const d of fns) {
        if (d.removed) continue;
        const cmd = d.configRead(PCI_COMMAND, 2);
        const bar = d.configRead(PCI_BASE_ADDRESS_0, 4) & ~0xf;
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
        const wasRemoved = removed.has(c);
        const vid = await bus.configReadAsync(c.devfn, PCI_VENDOR_ID, 2);
        if (wasRemoved) run.check(vid === 0xffff, `config read of removed fn2 returned 0x${vid.toString(16)}`);
        else run.check(vid === 0x1234 || vid === 0xffff, `config read of fn2 returned 0x${vid.toString(16)}`);
      }
    });
    sched.spawn('hotplug', 'main', async () => {
      run.check(await bus.removeDeviceAsync(c), 'removeDevice failed');
      removed.add(c);
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
        run.check(bus.configRead(c.devfn, PCI_VENDOR_ID, 4) === 0xffffffff, 'removed function still answers config reads');
      },
      dispose() {
        // Functions own DMA address spaces, which the memory core keeps in a
        // realm-wide list until destroyed.
        for (const d of fns) d.dmaAs?.destroy();
        as.destroy();
      },
    };
  },
};
