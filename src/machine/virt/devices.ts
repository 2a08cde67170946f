/**
 * `-device NAME,props` for the virt board. Each device family registers its
 * entries into the board's table: an entry (src/hw/device-plug.ts) plugs one
 * device model into what the board offers (a virtio-mmio slot, the PCIe bus,
 * ...), written against `PlugBoard`, which VirtMachine is. Families live below
 * the machine and never import it. Unknown names are rejected before the guest
 * runs.
 */
import { DeviceSpecError, type DeviceFactory, type DevicePlugContext } from '../../hw/device-plug.js';
import { VIRTIO_VIRT_DEVICES } from '../../hw/virtio/virt-devices.js';
import { PCI_VIRT_DEVICES } from '../../hw/pci/virt-devices.js';
import { VIRTIO_NET_DEVICES } from '../../hw/virtio/virt-net-devices.js';
import { VIRTIO_HOST_DEVICES } from '../../hw/virtio/virt-host-devices.js';

export { DeviceSpecError, type DeviceFactory, type DevicePlugContext };

export const VIRT_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  ...VIRTIO_VIRT_DEVICES,
  ...PCI_VIRT_DEVICES,
  ...VIRTIO_NET_DEVICES,
  ...VIRTIO_HOST_DEVICES,
};

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
