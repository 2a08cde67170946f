/**
 * `-device NAME,props` for the virt board. Each entry plugs one device model
 * into a machine (a virtio-mmio slot, the PCIe bus, ...). The table is the
 * seam for the virtio and PCI work: add an entry here; nothing else in the
 * machine or the CLI changes. Unknown names are rejected before the guest runs.
 */
import type { VirtMachine } from './virt.js';
import type { ChardevRegistry } from '../../hw/char/chardev-registry.js';
import { VIRTIO_VIRT_DEVICES } from '../../hw/virtio/virt-devices.js';
import { PCI_VIRT_DEVICES } from '../../hw/pci/virt-devices.js';

export class DeviceSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceSpecError';
  }
}

export interface DevicePlugContext {
  machine: VirtMachine;
  /** -drive definitions by id. */
  drives: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** The run's chardevs by id (-chardev): frontends such as virtio-serial ports claim theirs with chardevs.claim(id, user). */
  chardevs?: ChardevRegistry;
  /** A host I/O error on drive `id` (the monitors' BLOCK_IO_ERROR); optional. */
  onBlockIoError?: (id: string, operation: 'read' | 'write' | 'flush', error: Error) => void;
}

export interface DeviceFactory {
  readonly summary: string;
  plug(ctx: DevicePlugContext, props: Readonly<Record<string, string>>): void;
}

export const VIRT_DEVICES: Readonly<Record<string, DeviceFactory>> = { ...VIRTIO_VIRT_DEVICES, ...PCI_VIRT_DEVICES };

export function deviceHelp(): string {
  const names = Object.keys(VIRT_DEVICES).sort();
  return names.length ? names.map((n) => `name "${n}": ${VIRT_DEVICES[n]!.summary}`).join('\n') : '(no pluggable devices yet)';
}

/** Check every -device name before anything is built (so errors come first). */
export function checkDeviceNames(drivers: readonly string[]): void {
  for (const d of drivers) {
    if (!Object.prototype.hasOwnProperty.call(VIRT_DEVICES, d)) {
      const known = Object.keys(VIRT_DEVICES).sort();
      throw new DeviceSpecError(`-device ${d}: unknown device '${d}'${known.length ? ` (available: ${known.join(', ')})` : ' (no pluggable devices yet)'}`);
    }
  }
}

export function plugDevices(ctx: DevicePlugContext, specs: readonly { driver: string; props: Record<string, string> }[]): void {
  checkDeviceNames(specs.map((s) => s.driver));
  for (const s of specs) VIRT_DEVICES[s.driver]!.plug(ctx, s.props);
}
