/**
 * `-device` entries for PCI devices on the virt board: each goes on the gpex
 * host's bus 0 at function 0 of the first free slot (QEMU's order), so the
 * first one is 00:01.0.
 */
import type { DeviceFactory } from '../../machine/virt/devices.js';
import { DeviceSpecError } from '../../machine/virt/devices.js';
import { createEdu } from '../misc/edu.js';

/** Parse a 64-bit mask in QEMU's integer syntax (decimal or 0x hex); bits above 2^53 are dropped (no address reaches them). */
function parseMask(v: string, what: string): number {
  if (!/^(0x[0-9a-f]{1,16}|[0-9]{1,20})$/i.test(v)) throw new DeviceSpecError(`${what}: '${v}' is not an unsigned integer`);
  const n = BigInt(v);
  if (n >= 1n << 64n) throw new DeviceSpecError(`${what}: '${v}' does not fit 64 bits`);
  return Number(n & ((1n << 53n) - 1n));
}

export const PCI_VIRT_DEVICES: Readonly<Record<string, DeviceFactory>> = {
  edu: {
    summary: 'bus PCI, QEMU\'s educational device 1234:11e8 (props: dma_mask)',
    plug(ctx, props) {
      for (const k of Object.keys(props)) {
        if (k !== 'dma_mask') throw new DeviceSpecError(`-device edu: unknown property '${k}'`);
      }
      const dmaMask = props.dma_mask === undefined ? undefined : parseMask(props.dma_mask, '-device edu,dma_mask');
      ctx.machine.gpex.addDevice(createEdu({ scheduler: ctx.machine.loop, dmaMask }));
    },
  },
};
