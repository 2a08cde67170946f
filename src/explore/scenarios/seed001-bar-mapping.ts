/**
 * Seed 001 (Xen vPCI, "move lock outside of struct vpci"): mapping a BAR must
 * consult the other devices' BARs, so that a guest range is unmapped only when
 * no other enabled BAR still covers it.
 *
 * naive: each device has its own lock; modify_bars holds the written device's
 * lock and takes every other device's lock in turn to read its BARs. Two vCPUs
 * changing two devices at once take the locks in opposite orders (ABBA), and a
 * config access that looked its device up without a lock reaches the device's
 * state after hot-unplug freed it. The device locks of this design have no
 * class-level order, so each is validated as its own class: the validator then
 * reports the instance-level ABBA from any single run in which both vCPUs
 * nest; with `--no-lockdep` the explorer finds the deadlock itself.
 *
 * shipped (Xen 4.19, and src/hw/pci/bus.ts): one reader-writer lock per domain.
 * BAR and command writes take it for writing and read the other devices' BAR
 * state without any second device lock; config reads take it for reading and
 * then the one device lock; unplug takes it for writing. The device is looked
 * up only under the domain lock; a removed device answers all-ones.
 *
 * The model is a small BAR table (addresses in pages) with a guest physical
 * map (p2m); the check at the end is that the p2m maps exactly the pages of
 * enabled BARs of live devices.
 */
import { Lifetime } from '../../sync/lifetime.js';
import { Mutex } from '../../sync/mutex.js';
import { RwLock } from '../../sync/rwlock.js';
import type { Scenario, ScenarioRun } from '../scenario.js';

interface Bar {
  addr: number;
  pages: number;
}

interface VpciState {
  decode: boolean;
  readonly bar: Bar;
}

class Device {
  vpci: VpciState | null;
  readonly lock: Mutex;
  readonly life: Lifetime;
  constructor(
    run: ScenarioRun,
    readonly name: string,
    readonly devfn: number,
    bar: Bar,
  ) {
    this.vpci = { decode: true, bar };
    const cls = run.variant === 'naive' ? `vpci.dev[${name}]` : 'vpci.dev';
    this.lock = new Mutex(run.env, cls, { name: `${name}.vpci_lock`, orderKey: [0, devfn] });
    this.life = new Lifetime(run.env, `${name}.vpci`);
  }
}

export const seed001BarMapping: Scenario = {
  name: 'seed001-bar-mapping',
  description: 'BAR mapping consults other devices\' BARs: per-device locks nested (ABBA) vs a domain-wide rwlock',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  stepsHint: 40,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const domain = new RwLock(env, 'vpci.domain', { name: 'd0.pci_lock' });
    // d0 and d1 overlap on page 0x11; d2 is the hot-unplug victim.
    const devices: Device[] = [
      new Device(run, '00:01.0', 0x08, { addr: 0x10, pages: 2 }),
      new Device(run, '00:02.0', 0x10, { addr: 0x11, pages: 2 }),
      new Device(run, '00:03.0', 0x18, { addr: 0x20, pages: 1 }),
    ];
    const p2m = new Map<number, string>();
    for (const d of devices) for (let p = 0; p < d.vpci!.bar.pages; p++) p2m.set(d.vpci!.bar.addr + p, d.name);

    const find = (devfn: number): Device | undefined => devices.find((d) => d.devfn === devfn);

    /** Pages of `dev`'s BAR that no other enabled BAR covers (read with whatever lock the design uses). */
    async function exclusivePages(dev: Device): Promise<number[]> {
      const bar = dev.vpci!.bar;
      const pages = new Set<number>();
      for (let p = 0; p < bar.pages; p++) pages.add(bar.addr + p);
      for (const tmp of devices) {
        if (tmp === dev) continue;
        if (naive) await tmp.lock.lock({ site: `modify_bars(${dev.name}): lock ${tmp.name}` });
        const v = tmp.vpci;
        if (v && v.decode) for (let p = 0; p < v.bar.pages; p++) pages.delete(v.bar.addr + p);
        if (naive) tmp.lock.unlock();
        await sched.yield(`modify_bars(${dev.name}) inspected ${tmp.name}`);
      }
      return [...pages];
    }

    /** The guest clears memory decode in dev's command register. */
    async function disableDecode(devfn: number): Promise<void> {
      if (naive) {
        const dev = find(devfn);
        if (!dev) return;
        await dev.lock.lock({ site: `cmd write ${dev.name}: lock own` });
        if (dev.vpci && dev.vpci.decode) {
          const unmap = await exclusivePages(dev);
          dev.vpci.decode = false;
          for (const p of unmap) p2m.delete(p);
        }
        dev.lock.unlock();
        return;
      }
      await domain.write({ site: 'cmd write: domain write' });
      const dev = find(devfn);
      if (dev?.vpci?.decode) {
        const unmap = await exclusivePages(dev);
        dev.vpci.decode = false;
        for (const p of unmap) p2m.delete(p);
      }
      domain.unlockWrite();
    }

    /** A config read reaching the device's vPCI handlers; all-ones when the device is gone. */
    async function configRead(devfn: number): Promise<number> {
      if (naive) {
        const dev = find(devfn); // no lock: the device may go away under us
        if (!dev) return 0xffffffff;
        await sched.yield(`config read: found ${dev.name}`);
        await dev.lock.lock({ site: `config read ${dev.name}` });
        try {
          dev.life.check(`vpci config read handler of ${dev.name}`);
          return dev.vpci ? dev.vpci.bar.addr : 0xffffffff;
        } finally {
          dev.lock.unlock();
        }
      }
      await domain.read({ site: 'config read: domain read' });
      try {
        const dev = find(devfn);
        if (!dev || !dev.life.tryEnter()) return 0xffffffff;
        try {
          await sched.yield(`config read: in ${dev.name}`);
          await dev.lock.lock({ site: `config read ${dev.name}` });
          dev.life.check(`vpci config read handler of ${dev.name}`);
          run.check(dev.vpci !== null, `config read reached ${dev.name} after its vPCI state was freed`);
          const v = dev.vpci!.bar.addr;
          dev.lock.unlock();
          return v;
        } finally {
          dev.life.exit();
        }
      } finally {
        domain.unlockRead();
      }
    }

    async function unplug(devfn: number): Promise<void> {
      if (naive) {
        const dev = find(devfn);
        if (!dev) return;
        await dev.lock.lock({ site: `unplug ${dev.name}` });
        const v = dev.vpci!;
        for (let p = 0; p < v.bar.pages; p++) p2m.delete(v.bar.addr + p);
        dev.vpci = null;
        dev.life.remove();
        dev.lock.unlock();
        devices.splice(devices.indexOf(dev), 1);
        return;
      }
      await domain.write({ site: 'unplug: domain write' });
      const dev = find(devfn);
      if (dev) {
        devices.splice(devices.indexOf(dev), 1);
        const done = dev.life.remove();
        const v = dev.vpci!;
        if (v.decode) for (const p of await exclusivePages(dev)) p2m.delete(p);
        domain.unlockWrite();
        await done.wait();
        dev.vpci = null;
        return;
      }
      domain.unlockWrite();
    }

    sched.spawn('vcpu0', 'vcpu', () => disableDecode(0x08));
    sched.spawn('vcpu1', 'vcpu', () => disableDecode(0x10));
    sched.spawn('vcpu2', 'vcpu', async () => {
      const v = await configRead(0x18);
      run.check(v === 0x20 || v === 0xffffffff, `config read returned ${v.toString(16)}`);
    });
    sched.spawn('hotplug', 'main', () => unplug(0x18));

    return {
      finish() {
        const want = new Set<number>();
        for (const d of devices) if (d.vpci?.decode) for (let p = 0; p < d.vpci.bar.pages; p++) want.add(d.vpci.bar.addr + p);
        const have = [...p2m.keys()].sort((a, b) => a - b);
        run.check(have.length === want.size && have.every((p) => want.has(p)), `p2m maps pages [${have.map((p) => p.toString(16)).join(',')}], expected [${[...want].map((p) => p.toString(16)).join(',')}]`);
      },
    };
  },
};
