/**
 * `-device virtio-net-device|virtio-net-pci,netdev=ID[,mac=MAC]` on the virt
 * board. A NIC without mac= gets QEMU's default, 52:54:00:12:34:56 plus the
 * number of such NICs before it; a netdev backs one NIC, as in QEMU.
 */
import { DeviceSpecError, type DeviceFactory, type DevicePlugContext } from '../device-plug.js';
import { plugMmio, plugPci } from './virt-devices.js';
import { VirtioNet, parseMac } from './virtio-net.js';

const defaultMacs = new WeakMap<object, number>();
const claimed = new WeakMap<object, Set<string>>();
const PROPS = new Set(['netdev', 'mac', 'disable-legacy', 'id', 'bus', 'addr']);

function net(ctx: DevicePlugContext, props: Readonly<Record<string, string>>, name: string): VirtioNet {
  for (const k of Object.keys(props)) if (!PROPS.has(k)) throw new DeviceSpecError(`-device ${name}: Property '${name}.${k}' not found`);
  if (name === 'virtio-net-device') {
    for (const k of ['disable-legacy', 'bus', 'addr']) if (props[k] !== undefined) throw new DeviceSpecError(`-device ${name}: Property '${name}.${k}' not found`);
  }
  let mac: Uint8Array;
  if (props.mac !== undefined) {
    const m = parseMac(props.mac);
    if (!m) throw new DeviceSpecError(`-device ${name},mac=${props.mac}: Property '${name}.mac' doesn't take value '${props.mac}'`);
    if (m[0]! & 1) throw new DeviceSpecError(`-device ${name},mac=${props.mac}: a NIC cannot have a multicast MAC address`);
    mac = m;
  } else {
    const n = defaultMacs.get(ctx.machine) ?? 0;
    defaultMacs.set(ctx.machine, n + 1);
    mac = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, (0x56 + n) & 0xff);
  }
  let backend = null;
  const id = props.netdev;
  if (id !== undefined) {
    backend = ctx.netdevs?.get(id) ?? null;
    if (!backend) throw new DeviceSpecError(`-device ${name},netdev=${id}: Property '${name}.netdev' can't find value '${id}'`);
    const used = claimed.get(ctx.machine) ?? new Set<string>();
    claimed.set(ctx.machine, used);
    if (used.has(id)) throw new DeviceSpecError(`-device ${name},netdev=${id}: Property '${name}.netdev' can't take value '${id}', it's in use`);
    used.add(id);
  }
  return new VirtioNet({ scheduler: ctx.machine.loop }, backend, { mac });
}

export const VIRTIO_NET_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  'virtio-net-device': {
    summary: 'virtio network card on a virtio-mmio slot (netdev=ID[,mac=52:54:00:12:34:56])',
    plug: (ctx, props) => plugMmio(ctx, net(ctx, props, 'virtio-net-device'), 'virtio-net-device'),
  },
  'virtio-net-pci': {
    summary: 'virtio network card on PCI, transitional 1af4:1000 (netdev=ID[,mac=MAC][,disable-legacy=on])',
    // QEMU's 2 * queue pairs + 2 vectors (its control queue counts; a spare one is harmless).
    plug: (ctx, props) => plugPci(ctx, net(ctx, props, 'virtio-net-pci'), 'virtio-net-pci', props, 4),
  },
};
