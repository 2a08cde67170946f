/**
 * Starts the monitors a run asked for (`-qmp`, `-monitor`, `-mon`, the
 * human monitor muxed on the stdio console) on their chardevs.
 */
import type { ChardevRegistry } from '../hw/char/chardev-registry.js';
import type { MonitorSpec } from '../machine/control-options.js';
import type { DeviceInventory } from '../machine/virt/device-inventory.js';
import type { VirtMachine } from '../machine/virt/virt.js';
import { MonitorAccess } from './access.js';
import { HmpServer } from './hmp.js';
import { QmpServer } from './qmp.js';

export interface ControlPlane {
  readonly access: MonitorAccess;
  close(): void;
}

export function startMonitors(opts: {
  machine: VirtMachine;
  chardevs: ChardevRegistry;
  inventory: DeviceInventory;
  monitors: readonly MonitorSpec[];
  name?: string;
}): ControlPlane {
  const access = new MonitorAccess({ machine: opts.machine, chardevs: opts.chardevs, inventory: opts.inventory, name: opts.name });
  const qmps: QmpServer[] = [];
  opts.monitors.forEach((m, i) => {
    if (m.mode === 'control') {
      const q = new QmpServer(access, { pretty: m.pretty });
      qmps.push(q);
      opts.chardevs.claimSessions(m.chardev, `monitor${i}`, q);
    } else {
      opts.chardevs.claimSessions(m.chardev, `monitor${i}`, new HmpServer(access));
    }
  });
  return {
    access,
    close: () => {
      for (const q of qmps) q.close();
    },
  };
}
