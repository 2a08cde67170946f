/**
 * `-device` entries for the host-sharing virtio devices (docs/sharing.md):
 * virtio-9p over an -fsdev, virtio-serial ports over chardevs, and vsock
 * mapped to host UNIX sockets.
 */
import type { DeviceFactory, DevicePlugContext } from '../../machine/virt/devices.js';
import { DeviceSpecError } from '../../machine/virt/devices.js';
import { P9Server } from '../../fs/p9-server.js';
import type { SecurityModelName } from '../../fs/security-model.js';
import { onOff, plugMmio, plugPci } from './virt-devices.js';
import { MAX_TAG_LEN, Virtio9p } from './virtio-9p.js';

/** Fsdevs already given to a device, per machine (one export backs one device). */
const claimedFsdevs = new WeakMap<object, Set<string>>();

function p9(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string): Virtio9p {
  const id = props.fsdev;
  if (!id) throw new DeviceSpecError(`-device ${name}: fsdev property not set`);
  const tag = props.mount_tag;
  if (!tag) throw new DeviceSpecError(`-device ${name}: mount_tag property not set`);
  if (new TextEncoder().encode(tag).length > MAX_TAG_LEN) throw new DeviceSpecError(`-device ${name},mount_tag=${tag}: longer than ${MAX_TAG_LEN} bytes`);
  const fs = ctx.fsdevs?.get(id);
  if (!fs) throw new DeviceSpecError(`-device ${name},fsdev=${id}: no -fsdev with id=${id}`);
  const used = claimedFsdevs.get(ctx.machine) ?? new Set<string>();
  claimedFsdevs.set(ctx.machine, used);
  if (used.has(id)) throw new DeviceSpecError(`-device ${name},fsdev=${id}: fsdev ${id} is already in use by another device`);
  let server: P9Server;
  try {
    server = new P9Server({
      path: fs.path!,
      securityModel: fs.security_model as SecurityModelName,
      readonly: onOff(fs.readonly, `-fsdev id=${id},readonly`),
    });
  } catch (e) {
    if (e instanceof DeviceSpecError) throw e;
    throw new DeviceSpecError(`-fsdev id=${id},path=${fs.path}: ${(e as Error).message}`);
  }
  used.add(id);
  return new Virtio9p({ scheduler: ctx.machine.loop }, server, tag);
}

export const VIRTIO_HOST_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  'virtio-9p-device': {
    summary: 'virtio 9P2000.L file server for an -fsdev on a virtio-mmio slot (fsdev=ID,mount_tag=TAG)',
    plug: (ctx, props) => plugMmio(ctx, p9(ctx, props, 'virtio-9p-device'), 'virtio-9p-device'),
  },
  'virtio-9p-pci': {
    summary: 'virtio 9P2000.L file server for an -fsdev on PCI (fsdev=ID,mount_tag=TAG)',
    plug: (ctx, props) => plugPci(ctx, p9(ctx, props, 'virtio-9p-pci'), 'virtio-9p-pci', props),
  },
};
