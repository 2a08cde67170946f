/**
 * `-device` entries for the host-sharing virtio devices (docs/sharing.md):
 * virtio-9p over an -fsdev, virtio-serial ports over chardevs, and vsock
 * mapped to host UNIX sockets.
 */
import { DeviceSpecError, type DeviceFactory, type DevicePlugContext } from '../device-plug.js';
import { P9Server } from '../../fs/p9-server.js';
import type { SecurityModelName } from '../../fs/security-model.js';
import { onOff, plugMmio, plugPci } from './virt-devices.js';
import { MAX_TAG_LEN, Virtio9p } from './virtio-9p.js';
import { DEFAULT_MAX_PORTS, VirtioSerial } from './virtio-serial.js';
import { VirtioVsock } from './virtio-vsock.js';

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

/** virtio-serial devices per machine, in plug order: a port joins the last one (QEMU's automatic bus choice). */
const serialBuses = new WeakMap<object, VirtioSerial[]>();

function serial(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string): VirtioSerial {
  const max = props.max_ports === undefined ? DEFAULT_MAX_PORTS : Number(props.max_ports);
  if (!Number.isInteger(max) || max < 1 || max > 31) throw new DeviceSpecError(`-device ${name},max_ports=${props.max_ports}: 1..31`);
  const dev = new VirtioSerial({ scheduler: ctx.machine.loop }, max);
  const list = serialBuses.get(ctx.machine) ?? [];
  list.push(dev);
  serialBuses.set(ctx.machine, list);
  return dev;
}

function port(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string, isConsole: boolean): void {
  const bus = serialBuses.get(ctx.machine)?.at(-1);
  if (!bus) throw new DeviceSpecError(`-device ${name}: no virtio-serial device to plug into (add -device virtio-serial-pci or virtio-serial-device first)`);
  const id = props.chardev;
  if (!id) throw new DeviceSpecError(`-device ${name}: chardev property not set`);
  if (!ctx.chardevs) throw new DeviceSpecError(`-device ${name}: no chardevs in this machine`);
  let backend;
  try {
    backend = ctx.chardevs.claim(id, `-device ${name}`);
  } catch (e) {
    throw new DeviceSpecError((e as Error).message);
  }
  const nr = props.nr === undefined ? undefined : Number(props.nr);
  try {
    bus.addPort(backend, { console: isConsole, name: props.name, nr });
  } catch (e) {
    throw new DeviceSpecError(`-device ${name}: ${(e as Error).message}`);
  }
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
  'virtio-serial-device': {
    summary: 'virtio-serial (multiport console) on a virtio-mmio slot; ports: virtconsole, virtserialport ([max_ports=N])',
    plug: (ctx, props) => plugMmio(ctx, serial(ctx, props, 'virtio-serial-device'), 'virtio-serial-device'),
  },
  'virtio-serial-pci': {
    summary: 'virtio-serial (multiport console) on PCI; ports: virtconsole, virtserialport ([max_ports=N])',
    plug: (ctx, props) => plugPci(ctx, serial(ctx, props, 'virtio-serial-pci'), 'virtio-serial-pci', withoutSerialProps(props)),
  },
  'virtio-serial': {
    summary: "alias of virtio-serial-pci (QEMU's name on virt)",
    plug: (ctx, props) => plugPci(ctx, serial(ctx, props, 'virtio-serial'), 'virtio-serial', withoutSerialProps(props)),
  },
  'vhost-vsock-device': {
    summary: 'virtio-vsock on a virtio-mmio slot, served in user space (guest-cid=N[,uds=PATH]: host UNIX socket, see docs/sharing.md)',
    plug: (ctx, props) => plugMmio(ctx, vsock(ctx, props, 'vhost-vsock-device'), 'vhost-vsock-device'),
  },
  'vhost-vsock-pci': {
    summary: 'virtio-vsock on PCI, served in user space (guest-cid=N[,uds=PATH]: host UNIX socket, see docs/sharing.md)',
    plug: (ctx, props) => plugPci(ctx, vsock(ctx, props, 'vhost-vsock-pci'), 'vhost-vsock-pci', withoutVsockProps(props)),
  },
  virtconsole: {
    summary: "a console port on the last virtio-serial device: Linux's hvcN (chardev=ID[,name=NAME][,nr=N])",
    plug: (ctx, props) => port(ctx, props, 'virtconsole', true),
  },
  virtserialport: {
    summary: 'a port on the last virtio-serial device: /dev/vportNpM in Linux (chardev=ID[,name=NAME][,nr=N])',
    plug: (ctx, props) => port(ctx, props, 'virtserialport', false),
  },
};

function vsock(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string): VirtioVsock {
  const cidText = props['guest-cid'];
  if (cidText === undefined) throw new DeviceSpecError(`-device ${name}: guest-cid property not set`);
  const cid = /^\d+$/.test(cidText) ? Number(cidText) : NaN;
  // CIDs 0-2 are the hypervisor, local and host; 0xffffffff is VMADDR_CID_ANY.
  if (!(cid >= 3 && cid < 0xffffffff)) throw new DeviceSpecError(`-device ${name},guest-cid=${cidText}: must be 3..4294967294`);
  const uds = props.uds ?? null;
  const dev = new VirtioVsock({ scheduler: ctx.machine.loop }, { guestCid: cid, uds });
  dev.listen().catch((e: Error) => process.stderr.write(`tsvmm: -device ${name},uds=${uds}: cannot listen: ${e.message}\n`));
  return dev;
}

function withoutVsockProps(props: Readonly<Record<string, string>>): Record<string, string> {
  const { 'guest-cid': _c, uds: _u, ...rest } = props;
  return rest;
}

function withoutSerialProps(props: Readonly<Record<string, string>>): Record<string, string> {
  const { max_ports: _m, ...rest } = props;
  return rest;
}
