import type { MemoryRegionOps } from '../../memory/types.js';
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { IrqLine } from '../irq.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { setAddrHalf } from './guest-mem.js';
import type { VirtioDevice, VirtioTransport } from './virtio-device.js';
import { VIRTIO_F_VERSION_1, VIRTIO_STATUS_FEATURES_OK } from './virtio-device.js';

export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VENDOR = 0x554d4551; // "QEMU"
export const VIRTIO_MMIO_SIZE = 0x200;

const R = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  GUEST_PAGE_SIZE: 0x028,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_ALIGN: 0x03c,
  QUEUE_PFN: 0x040,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_AVAIL_LOW: 0x090,
  QUEUE_AVAIL_HIGH: 0x094,
  QUEUE_USED_LOW: 0x0a0,
  QUEUE_USED_HIGH: 0x0a4,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

interface QueueRegs {
  num: number;
  desc: number;
  avail: number;
  used: number;
  align: number;
  pfn: number;
}

/**
 * The virtio-mmio transport, version 2 (virtio 1.x) or version 1 (legacy, the
 * default of QEMU 7.2's virt machine, `force-legacy=true`). With no device
 * plugged it answers as an empty slot: magic, version, device id 0.
 */
export class VirtioMmio implements VirtioTransport, DeviceOwner {
  readonly name = 'virtio-mmio';
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly ops: MemoryRegionOps;
  /** The 0x200-byte register window ("virtio-mmio" in `info mtree`). */
  readonly mr: MemoryRegion;
  private device: VirtioDevice | null = null;
  private featuresSel = 0;
  private driverFeaturesSel = 0;
  private guestPageSize = 4096;
  private queueSel = 0;
  private interruptStatus = 0;
  private regs: QueueRegs[] = [];

  constructor(
    private readonly irq: IrqLine,
    private readonly mem: AddressSpace,
    readonly legacy: boolean,
  ) {
    this.ops = {
      read: (off, size) => this.read(off, size),
      write: (off, value, size) => this.write(off, value, size),
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
    };
    this.mr = MemoryRegion.io('virtio-mmio', VIRTIO_MMIO_SIZE, this.ops, { owner: this });
  }

  get version(): number {
    return this.legacy ? 1 : 2;
  }

  plug(device: VirtioDevice): void {
    this.device = device;
    if (this.legacy) device.hostFeatures.set(VIRTIO_F_VERSION_1, false);
    device.realize(this, this.mem);
    this.regs = device.queues.map(() => ({ num: 0, desc: 0, avail: 0, used: 0, align: 4096, pfn: 0 }));
  }

  get plugged(): VirtioDevice | null {
    return this.device;
  }

  notifyQueue(_q: number): void {
    this.interruptStatus |= 1;
    this.irq.set(true);
  }

  notifyConfig(): void {
    this.interruptStatus |= 2;
    this.irq.set(true);
  }

  private reset(): void {
    this.interruptStatus = 0;
    this.irq.set(false);
    this.featuresSel = this.driverFeaturesSel = this.queueSel = 0;
    for (const r of this.regs) Object.assign(r, { num: 0, desc: 0, avail: 0, used: 0, align: 4096, pfn: 0 });
    this.device?.reset();
  }

  private read(off: number, size: number): number {
    const dev = this.device;
    if (off >= R.CONFIG) {
      if (!dev) return 0;
      const cfg = dev.config;
      const o = off - R.CONFIG;
      let v = 0;
      for (let i = 0; i < size; i++) v |= (o + i < cfg.length ? cfg[o + i]! : 0) << (8 * i);
      return v >>> 0;
    }
    if (size !== 4) return 0; // registers are 32-bit; narrower reads are a driver bug
    switch (off) {
      case R.MAGIC:
        return VIRTIO_MMIO_MAGIC;
      case R.VERSION:
        return this.version;
      case R.DEVICE_ID:
        return dev ? dev.deviceId : 0;
      case R.VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    }
    if (!dev) return 0;
    const q = dev.queues[this.queueSel];
    const r = this.regs[this.queueSel];
    switch (off) {
      case R.DEVICE_FEATURES:
        return dev.hostFeatures.word(this.featuresSel);
      case R.QUEUE_NUM_MAX:
        return q && !q.ready ? q.maxNum : q ? q.maxNum : 0;
      case R.QUEUE_PFN:
        return this.legacy && r ? r.pfn : 0;
      case R.QUEUE_READY:
        return !this.legacy && q ? (q.ready ? 1 : 0) : 0;
      case R.INTERRUPT_STATUS:
        return this.interruptStatus;
      case R.STATUS:
        return dev.status;
      case R.CONFIG_GENERATION:
        return this.legacy ? 0 : dev.configGeneration;
      default:
        return 0;
    }
  }

  private write(off: number, value: number, size: number): void {
    const dev = this.device;
    if (!dev) return;
    if (off >= R.CONFIG) {
      dev.configWrite(off - R.CONFIG, value, size);
      return;
    }
    if (size !== 4) return;
    const q = dev.queues[this.queueSel];
    const r = this.regs[this.queueSel];
    switch (off) {
      case R.DEVICE_FEATURES_SEL:
        this.featuresSel = value;
        break;
      case R.DRIVER_FEATURES:
        if (dev.status & VIRTIO_STATUS_FEATURES_OK) break; // frozen once FEATURES_OK
        if (this.driverFeaturesSel === 0) dev.guestFeatures.lo = value >>> 0;
        else if (this.driverFeaturesSel === 1) dev.guestFeatures.hi = value >>> 0;
        break;
      case R.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        break;
      case R.GUEST_PAGE_SIZE:
        if (this.legacy) this.guestPageSize = value === 0 ? 4096 : value;
        break;
      case R.QUEUE_SEL:
        this.queueSel = value;
        break;
      case R.QUEUE_NUM:
        if (r && q) r.num = value > q.maxNum ? 0 : value;
        break;
      case R.QUEUE_ALIGN:
        if (this.legacy && r) r.align = value;
        break;
      case R.QUEUE_PFN:
        if (this.legacy && q && r) {
          r.pfn = value >>> 0;
          if (r.pfn === 0) {
            q.reset();
          } else {
            const align = r.align > 0 && (r.align & (r.align - 1)) === 0 ? r.align : 4096;
            if (r.num === 0) r.num = q.maxNum;
            q.setLegacyRings(r.num, r.pfn * this.guestPageSize, align);
            q.eventIdx = dev.guestFeatures.has(29);
            q.ready = true;
          }
        }
        break;
      case R.QUEUE_READY:
        if (!this.legacy && q && r) {
          if (value & 1) {
            if (r.num === 0) {
              dev.guestError(`${dev.name}: queue ${this.queueSel} enabled with size 0`);
              break;
            }
            q.setRings(r.num, r.desc, r.avail, r.used);
            q.eventIdx = dev.guestFeatures.has(29);
            q.ready = true;
          } else {
            q.reset();
          }
        }
        break;
      case R.QUEUE_NOTIFY:
        dev.kick(value);
        break;
      case R.INTERRUPT_ACK:
        this.interruptStatus &= ~value;
        if (this.interruptStatus === 0) this.irq.set(false);
        break;
      case R.STATUS:
        if ((value & 0xff) === 0) this.reset();
        else dev.setStatus(value);
        break;
      case R.QUEUE_DESC_LOW:
        if (r) r.desc = setAddrHalf(r.desc, value, false);
        break;
      case R.QUEUE_DESC_HIGH:
        if (r) r.desc = setAddrHalf(r.desc, value, true);
        break;
      case R.QUEUE_AVAIL_LOW:
        if (r) r.avail = setAddrHalf(r.avail, value, false);
        break;
      case R.QUEUE_AVAIL_HIGH:
        if (r) r.avail = setAddrHalf(r.avail, value, true);
        break;
      case R.QUEUE_USED_LOW:
        if (r) r.used = setAddrHalf(r.used, value, false);
        break;
      case R.QUEUE_USED_HIGH:
        if (r) r.used = setAddrHalf(r.used, value, true);
        break;
      default:
        break;
    }
  }
}
