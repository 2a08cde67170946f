/**
 * `-device` entries for PCI devices on the virt board.
 *
 *   -device edu[,dma_mask=N][,bus=ID][,addr=SLOT[.FN]]
 *   -device pci-bridge,id=ID[,chassis_nr=N][,bus=ID][,addr=SLOT[.FN]]
 *
 * `bus` names the bus to plug into: pcie.0 (the default, the gpex host's root
 * bus) or the id of a pci-bridge given earlier on the command line. Without
 * `addr` a device takes function 0 of the first free slot (QEMU's order), so
 * the first one on pcie.0 is 00:01.0.
 */
import type { DeviceFactory, DevicePlugContext } from '../../machine/virt/devices.js';
import { DeviceSpecError } from '../../machine/virt/devices.js';
import { createEdu } from '../misc/edu.js';
import { PciError } from './bar.js';
import { PciBridge } from './bridge.js';
import { pciDevfn } from './constants.js';
import type { PciDevice } from './device.js';

/** Bridges by id, per machine. */
const bridges = new WeakMap<object, Map<string, PciBridge>>();

/** Parse a 64-bit mask in QEMU's integer syntax (decimal or 0x hex); bits above 2^53 are dropped (no address reaches them). */
function parseMask(v: string, what: string): number {
  if (!/^(0x[0-9a-f]{1,16}|[0-9]{1,20})$/i.test(v)) throw new DeviceSpecError(`${what}: '${v}' is not an unsigned integer`);
  const n = BigInt(v);
  if (n >= 1n << 64n) throw new DeviceSpecError(`${what}: '${v}' does not fit 64 bits`);
  return Number(n & ((1n << 53n) - 1n));
}

/** QEMU's addr= syntax: SLOT or SLOT.FN, hex, with or without 0x. */
function parseAddr(v: string, what: string): number {
  const m = /^(?:0x)?([0-9a-f]{1,2})(?:\.([0-7]))?$/i.exec(v);
  const slot = m ? parseInt(m[1]!, 16) : NaN;
  if (!m || slot > 31) throw new DeviceSpecError(`${what}: '${v}' is not a PCI address (slot[.function], slot < 0x20)`);
  return pciDevfn(slot, m[2] ? parseInt(m[2], 10) : 0);
}

function checkProps(device: string, props: Readonly<Record<string, string>>, known: readonly string[]): void {
  for (const k of Object.keys(props)) {
    if (!known.includes(k)) throw new DeviceSpecError(`-device ${device}: unknown property '${k}' (known: ${known.join(', ')})`);
  }
}

/** Plug `dev` where `bus=`/`addr=` say (the virtio PCI entries use it too). */
export function plugPci(ctx: DevicePlugContext, device: string, dev: PciDevice, props: Readonly<Record<string, string>>): void {
  const devfn = props.addr === undefined ? undefined : parseAddr(props.addr, `-device ${device},addr`);
  const busId = props.bus ?? 'pcie.0';
  try {
    if (busId === 'pcie.0') {
      ctx.machine.gpex.addDevice(dev, devfn);
      return;
    }
    const br = bridges.get(ctx.machine)?.get(busId);
    if (!br) throw new DeviceSpecError(`-device ${device},bus=${busId}: no such bus (pcie.0 or the id of an earlier pci-bridge)`);
    br.addDevice(dev, devfn);
  } catch (e) {
    if (e instanceof PciError) throw new DeviceSpecError(`-device ${device}: ${e.message}`);
    throw e;
  }
}

export const PCI_VIRT_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  edu: {
    summary: "bus PCI, QEMU's educational device 1234:11e8 (dma_mask, bus, addr)",
    plug(ctx, props) {
      checkProps('edu', props, ['dma_mask', 'bus', 'addr']);
      const dmaMask = props.dma_mask === undefined ? undefined : parseMask(props.dma_mask, '-device edu,dma_mask');
      plugPci(ctx, 'edu', createEdu({ scheduler: ctx.machine.loop, dmaMask }), props);
    },
  },
  'pci-bridge': {
    summary: 'bus PCI, PCI-to-PCI bridge 1b36:0001 (id, chassis_nr, bus, addr)',
    plug(ctx, props) {
      checkProps('pci-bridge', props, ['id', 'chassis_nr', 'bus', 'addr']);
      const id = props.id;
      if (!id) throw new DeviceSpecError('-device pci-bridge: id= is required (devices behind it use bus=ID)');
      const map = bridges.get(ctx.machine) ?? new Map<string, PciBridge>();
      bridges.set(ctx.machine, map);
      if (map.has(id) || id === 'pcie.0') throw new DeviceSpecError(`-device pci-bridge,id=${id}: duplicate id`);
      const br = new PciBridge({ name: id });
      plugPci(ctx, 'pci-bridge', br, props);
      map.set(id, br);
    },
  },
};
