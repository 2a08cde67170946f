/**
 * The PCI Express capability (version 2, 0x3c bytes) of an endpoint, as a
 * function on the root bus of a generic host presents it: a Root Complex
 * integrated Endpoint there (no link), an Endpoint with a x1 2.5 GT/s link
 * elsewhere (QEMU's choice too).
 */
import { PciError } from './bar.js';
import { PCI_CAP_ID_EXP, PCI_EXP_TYPE_ENDPOINT, PCI_EXP_TYPE_RC_END } from './constants.js';
import type { PciDevice } from './device.js';

export interface PcieCapOptions {
  /** Root Complex integrated Endpoint (on a root bus) rather than an Endpoint behind a port. */
  readonly rootComplexIntegrated?: boolean;
}

/** Add the PCI Express capability; returns its offset. The function must have been created with `express: true`. */
export function addPcieCapability(dev: PciDevice, opts: PcieCapOptions = {}): number {
  if (!dev.info.express) throw new PciError(`${dev.name}: the PCI Express capability needs an express function`);
  const rcEnd = opts.rootComplexIntegrated ?? true;
  const type = rcEnd ? PCI_EXP_TYPE_RC_END : PCI_EXP_TYPE_ENDPOINT;
  const link = !rcEnd;
  return dev.addCapability(PCI_CAP_ID_EXP, 0x3c, (b) => {
    const c = dev.config;
    const RO16 = 0xffff;
    const RO32 = 0xffffffff;
    c.add({ name: 'exp-flags', offset: b + 0x02, size: 2, reset: 2 | (type << 4), ro: RO16 });
    // Max payload 128 bytes, role-based error reporting, FLR capable.
    c.add({ name: 'exp-devcap', offset: b + 0x04, size: 4, reset: (1 << 15) | (1 << 28), ro: RO32 });
    // Control: error reporting enables, relaxed ordering, payload, extended tags, no snoop, read request size.
    // Bit 15 (initiate FLR) always reads 0.
    c.add({ name: 'exp-devctl', offset: b + 0x08, size: 2, reset: 0x2810, rsvdz: 0x8000 });
    c.add({ name: 'exp-devsta', offset: b + 0x0a, size: 2, rw1c: 0x000f, ro: 0x0030, rsvdz: 0xffc0 });
    c.add({ name: 'exp-lnkcap', offset: b + 0x0c, size: 4, reset: link ? 0x11 | (1 << 10) : 0, ro: RO32 });
    if (link) {
      c.add({ name: 'exp-lnkctl', offset: b + 0x10, size: 2, ro: 0xff3c });
      c.add({ name: 'exp-lnksta', offset: b + 0x12, size: 2, reset: 0x11, ro: RO16 });
    } else {
      c.add({ name: 'exp-lnkctl', offset: b + 0x10, size: 2, ro: RO16 });
      c.add({ name: 'exp-lnksta', offset: b + 0x12, size: 2, ro: RO16 });
    }
    c.add({ name: 'exp-sltcap', offset: b + 0x14, size: 4, ro: RO32 });
    c.add({ name: 'exp-sltctl', offset: b + 0x18, size: 2, ro: RO16 });
    c.add({ name: 'exp-sltsta', offset: b + 0x1a, size: 2, ro: RO16 });
    c.add({ name: 'exp-rtctl', offset: b + 0x1c, size: 2, ro: RO16 });
    c.add({ name: 'exp-rtcap', offset: b + 0x1e, size: 2, ro: RO16 });
    c.add({ name: 'exp-rtsta', offset: b + 0x20, size: 4, ro: RO32 });
    c.add({ name: 'exp-devcap2', offset: b + 0x24, size: 4, ro: RO32 });
    c.add({ name: 'exp-devctl2', offset: b + 0x28, size: 2, ro: RO16 });
    c.add({ name: 'exp-devsta2', offset: b + 0x2a, size: 2, ro: RO16 });
    c.add({ name: 'exp-lnkcap2', offset: b + 0x2c, size: 4, reset: link ? 1 << 1 : 0, ro: RO32 });
    c.add({ name: 'exp-lnkctl2', offset: b + 0x30, size: 2, reset: link ? 1 : 0, ro: RO16 });
    c.add({ name: 'exp-lnksta2', offset: b + 0x32, size: 2, ro: RO16 });
    c.add({ name: 'exp-sltcap2', offset: b + 0x34, size: 4, ro: RO32 });
    c.add({ name: 'exp-sltctl2', offset: b + 0x38, size: 2, ro: RO16 });
    c.add({ name: 'exp-sltsta2', offset: b + 0x3a, size: 2, ro: RO16 });
  });
}
