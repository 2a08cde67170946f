/**
 * `-device` entries for virtio on the virt board, and QEMU's `-drive if=virtio`
 * shortcut. virtio-mmio devices take the highest free slot first (QEMU's
 * order: the first one lands at 0x10008000, PLIC source 8); PCI devices go on
 * the gpex host's bus 0 at the first free slot.
 */
import { BlockError, RawFile } from '../../block/raw-file.js';
import type { DeviceFactory, DevicePlugContext } from '../../machine/virt/devices.js';
import { DeviceSpecError } from '../../machine/virt/devices.js';
import type { VirtioDevice, VirtioDeviceDeps } from './virtio-device.js';
import { VirtioBlk } from './virtio-blk.js';
import { VirtioMmio } from './virtio-mmio.js';
import { VirtioPci } from './virtio-pci.js';
import { VirtioRng } from './virtio-rng.js';
import { plugPci as plugPciAt } from '../pci/virt-devices.js';

/** Drives already given to a device, per machine (a drive backs one device, as in QEMU). */
const claimed = new WeakMap<object, Set<string>>();

function deps(ctx: DevicePlugContext): VirtioDeviceDeps {
  return { scheduler: ctx.machine.loop };
}

function onOff(v: string | undefined, what: string): boolean {
  if (v === undefined || v === 'off' || v === 'false' || v === 'no') return false;
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  throw new DeviceSpecError(`${what}: '${v}' is not on or off`);
}

/** Open the image behind -drive id=ID for a block device. */
export function openDrive(ctx: DevicePlugContext, id: string | undefined, device: string): RawFile {
  if (!id) throw new DeviceSpecError(`-device ${device}: drive property not set`);
  const d = ctx.drives.get(id);
  if (!d) throw new DeviceSpecError(`-device ${device},drive=${id}: no -drive with id=${id}`);
  const used = claimed.get(ctx.machine) ?? new Set<string>();
  claimed.set(ctx.machine, used);
  if (used.has(id)) throw new DeviceSpecError(`-device ${device},drive=${id}: drive ${id} is already in use by another device`);
  const file = d.file;
  if (!file) throw new DeviceSpecError(`-drive id=${id}: file= is required`);
  const format = d.format ?? 'raw';
  if (format !== 'raw') throw new DeviceSpecError(`-drive file=${file}: format '${format}' is not supported (only raw)`);
  const readonly = onOff(d.readonly, `-drive file=${file},readonly`);
  try {
    const hook = ctx.onBlockIoError;
    const img = new RawFile(file, { readonly, onIoError: hook ? (op, err) => hook(id, op, err) : undefined });
    used.add(id);
    return img;
  } catch (e) {
    if (e instanceof BlockError) throw new DeviceSpecError(`-drive file=${file}: ${e.message}`);
    throw e;
  }
}

function plugMmio(ctx: DevicePlugContext, dev: VirtioDevice, name: string): void {
  const m = ctx.machine;
  const slot = [...m.virtio].reverse().find((s) => !s.occupied);
  if (!slot) throw new DeviceSpecError(`-device ${name}: all ${m.virtio.length} virtio-mmio slots are in use`);
  // QEMU 7.2's virt forces the legacy (version 1) interface on its virtio-mmio transports.
  const t = new VirtioMmio(m.plic.input(slot.irq), m.as, true);
  t.plug(dev);
  slot.plug(t.mr);
}

function plugPci(ctx: DevicePlugContext, dev: VirtioDevice, name: string, props: Readonly<Record<string, string>>): void {
  const transitional = props['disable-legacy'] === undefined ? true : !onOff(props['disable-legacy'], `-device ${name},disable-legacy`);
  try {
    // bus=/addr= as for the other PCI devices (pcie.0 or a pci-bridge's id).
    plugPciAt(ctx, name, new VirtioPci(dev, { transitional }), props);
  } catch (e) {
    if (e instanceof DeviceSpecError) throw e;
    throw new DeviceSpecError(`-device ${name}: ${(e as Error).message}`);
  }
}

function blk(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string): VirtioBlk {
  return new VirtioBlk(deps(ctx), openDrive(ctx, props.drive, name), { serial: props.serial });
}

export const VIRTIO_VIRT_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  'virtio-blk-device': {
    summary: 'virtio block device on a virtio-mmio slot (drive=ID[,serial=S])',
    plug: (ctx, props) => plugMmio(ctx, blk(ctx, props, 'virtio-blk-device'), 'virtio-blk-device'),
  },
  'virtio-blk-pci': {
    summary: 'virtio block device on PCI, transitional 1af4:1001 (drive=ID[,serial=S][,disable-legacy=on])',
    plug: (ctx, props) => plugPci(ctx, blk(ctx, props, 'virtio-blk-pci'), 'virtio-blk-pci', props),
  },
  'virtio-rng-device': {
    summary: 'virtio entropy source on a virtio-mmio slot',
    plug: (ctx) => plugMmio(ctx, new VirtioRng(deps(ctx)), 'virtio-rng-device'),
  },
  'virtio-rng-pci': {
    summary: 'virtio entropy source on PCI',
    plug: (ctx, props) => plugPci(ctx, new VirtioRng(deps(ctx)), 'virtio-rng-pci', props),
  },
};

/**
 * QEMU's `-drive ...,if=virtio`: a virtio-blk device for the drive without a
 * -device (on virt that is virtio-blk-pci, QEMU's "virtio-blk" alias).
 * Drives with if=none wait for a -device; other interfaces are rejected.
 */
export function plugDriveShortcuts(ctx: DevicePlugContext): void {
  for (const [id, d] of ctx.drives) {
    const iface = d.if ?? 'none';
    if (iface === 'none') continue;
    if (iface !== 'virtio') throw new DeviceSpecError(`-drive if=${iface}: interface not supported on virt (use if=virtio or if=none with -device)`);
    VIRTIO_VIRT_DEVICES['virtio-blk-pci']!.plug(ctx, { drive: id });
  }
}
