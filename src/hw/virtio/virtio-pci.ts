import { MemoryRegion } from '../../memory/region.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import { PciDevice } from '../pci/device.js';
import { MsixCapability } from '../pci/msix.js';
import { setAddrHalf } from './guest-mem.js';
import { VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE, VIRTIO_ID_NET, VIRTIO_ID_RNG, VIRTIO_F_VERSION_1, VIRTIO_STATUS_FEATURES_OK, type VirtioDevice, type VirtioTransport } from './virtio-device.js';

const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
const PCI_CAP_ID_VNDR = 0x09;
const VIRTIO_MSI_NO_VECTOR = 0xffff;

const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG = 4;

/** QEMU's modern BAR layout: four 4 KiB windows in a 16 KiB 64-bit prefetchable BAR 4. */
const MODERN_BAR = 4;
const MSIX_BAR = 1;
const LEGACY_BAR = 0;
const COMMON_OFF = 0x0000;
const ISR_OFF = 0x1000;
const DEVICE_OFF = 0x2000;
const NOTIFY_OFF = 0x3000;
const WINDOW = 0x1000;
const NOTIFY_MULTIPLIER = 4;

/** Class codes as QEMU gives them. */
const CLASS_BY_ID: Record<number, number> = {
  [VIRTIO_ID_BLOCK]: 0x010000, // mass storage, SCSI
  [VIRTIO_ID_NET]: 0x020000,
  [VIRTIO_ID_CONSOLE]: 0x078000, // communication, other
  [VIRTIO_ID_RNG]: 0x00ff00,
};

/** Legacy device ids (0x1000 + n) exist only for the device types of virtio 0.9.5. */
const LEGACY_IDS: Record<number, number> = {
  [VIRTIO_ID_NET]: 0x1000,
  [VIRTIO_ID_BLOCK]: 0x1001,
  [VIRTIO_ID_CONSOLE]: 0x1003,
  [VIRTIO_ID_RNG]: 0x1005,
};

export interface VirtioPciOptions {
  /** Transitional (legacy I/O BAR 0 + modern BAR 4, ids 0x1000+) or modern only (ids 0x1040+). Default transitional, like QEMU's -device virtio-*-pci. */
  transitional?: boolean;
}

/**
 * The virtio PCI transport, laid out like QEMU's: a transitional function
 * (1af4:1001 for a block device) has the legacy register block in I/O BAR 0,
 * MSI-X in BAR 1 and the modern capabilities (common, ISR, device, notify)
 * in BAR 4. Interrupts go by MSI-X when the driver enabled it and gave the
 * queue a vector, and by INTx (level = ISR != 0) otherwise.
 */
export class VirtioPci extends PciDevice implements VirtioTransport {
  readonly msix: MsixCapability;
  readonly legacyCapable: boolean;
  /** The driver used the legacy register block (set on its first access). */
  legacy = false;
  private isr = 0;
  private dfSelect = 0;
  private gfSelect = 0;
  private queueSel = 0;
  private configVector = VIRTIO_MSI_NO_VECTOR;
  private queueVectors: number[];
  private readonly qregs: { num: number; desc: number; avail: number; used: number }[];

  constructor(
    readonly vdev: VirtioDevice,
    opts: VirtioPciOptions = {},
  ) {
    const transitional = opts.transitional ?? true;
    const id = vdev.deviceId;
    const legacyId = LEGACY_IDS[id];
    const useLegacy = transitional && legacyId !== undefined;
    super({
      name: `${vdev.name}-pci`,
      vendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      deviceId: useLegacy ? legacyId : 0x1040 + id,
      classCode: CLASS_BY_ID[id] ?? 0xff0000,
      revision: useLegacy ? 0 : 1,
      subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      subsystemId: useLegacy ? id : 0x1100,
      interruptPin: 1,
    });
    this.legacyCapable = useLegacy;
    // The device is realized when the function is attached and has its DMA address space.
    this.queueVectors = [];
    this.qregs = [];

    if (useLegacy) {
      const legacyOps: MemoryRegionOps = {
        read: (off, size) => this.legacyRead(off, size),
        write: (off, v, size) => this.legacyWrite(off, v, size),
        valid: { min: 1, max: 4 },
        impl: { min: 1, max: 4 },
      };
      this.registerBar(LEGACY_BAR, { kind: 'io', region: MemoryRegion.io('virtio-pci', 0x80, legacyOps, { owner: this }) });
    }
    this.msix = MsixCapability.exclusiveBar(this, vdev.numQueues + 1, MSIX_BAR);

    const modern = MemoryRegion.container('virtio-pci', 4 * WINDOW);
    const win = (name: string, off: number, read: (o: number, s: number) => number, write: (o: number, v: number, s: number) => void): void => {
      modern.addSubregion(off, MemoryRegion.io(name, WINDOW, { read, write, valid: { min: 1, max: 4 }, impl: { min: 1, max: 4 } }, { owner: this }));
    };
    win('virtio-pci-common', COMMON_OFF, (o, s) => this.commonRead(o, s), (o, v, s) => this.commonWrite(o, v, s));
    win('virtio-pci-isr', ISR_OFF, () => this.readIsr(), () => {});
    win('virtio-pci-device', DEVICE_OFF, (o, s) => this.configRead8(o, s), (o, v, s) => this.vdev.configWrite(o, v, s));
    win('virtio-pci-notify', NOTIFY_OFF, () => 0, (o) => this.vdev.kick(Math.floor(o / NOTIFY_MULTIPLIER)));
    this.registerBar(MODERN_BAR, { kind: 'mem64', prefetchable: true, region: modern });

    const cap = (type: number, off: number, len: number, extra = 0): void => {
      this.addCapability(PCI_CAP_ID_VNDR, 16 + extra, (base) => {
        const c = this.config;
        c.add({ name: `virtio-cap-${type}-len`, offset: base + 2, size: 1, reset: 16 + extra, ro: 0xff });
        c.add({ name: `virtio-cap-${type}-type`, offset: base + 3, size: 1, reset: type, ro: 0xff });
        c.add({ name: `virtio-cap-${type}-bar`, offset: base + 4, size: 1, reset: MODERN_BAR, ro: 0xff });
        c.add({ name: `virtio-cap-${type}-offset`, offset: base + 8, size: 4, reset: off, ro: 0xffffffff });
        c.add({ name: `virtio-cap-${type}-length`, offset: base + 12, size: 4, reset: len, ro: 0xffffffff });
        if (extra) c.add({ name: `virtio-cap-${type}-mult`, offset: base + 16, size: 4, reset: NOTIFY_MULTIPLIER, ro: 0xffffffff });
      });
    };
    cap(VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, WINDOW);
    cap(VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, WINDOW);
    cap(VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFF, WINDOW);
    cap(VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF, WINDOW, 4);
  }

  /** Put on a bus: now the function has a DMA address space, so the device can be realized. */
  override attach(...args: Parameters<PciDevice['attach']>): void {
    super.attach(...args);
    this.vdev.realize(this, this.dmaAs!, this.dmaAttrs);
    this.queueVectors = this.vdev.queues.map(() => VIRTIO_MSI_NO_VECTOR);
    for (let i = 0; i < this.vdev.queues.length; i++) this.qregs.push({ num: this.vdev.queues[i]!.maxNum, desc: 0, avail: 0, used: 0 });
  }

  protected override onRemoved(): void {
    this.vdev.reset();
  }

  protected override onBusMasterChanged(enabled: boolean): void {
    if (!enabled) this.vdev.revokeDma('bus master disabled');
  }

  protected override onReset(): void {
    this.resetTransport();
  }

  // ---- VirtioTransport ----

  notifyQueue(q: number): void {
    this.raise(1, this.queueVectors[q] ?? VIRTIO_MSI_NO_VECTOR);
  }

  notifyConfig(): void {
    this.raise(2, this.configVector);
  }

  private raise(isrBit: number, vector: number): void {
    if (this.msix.enabled) {
      if (vector !== VIRTIO_MSI_NO_VECTOR && vector < this.msix.vectors) this.msix.notify(vector);
      return;
    }
    this.isr |= isrBit;
    this.setIntx(true);
  }

  private readIsr(): number {
    const v = this.isr;
    this.isr = 0;
    this.setIntx(false);
    return v;
  }

  private resetTransport(): void {
    this.isr = 0;
    this.setIntx(false);
    // Interrupts from before the reset are not delivered later: a masked vector's pending bit goes too.
    this.msix.clearPending();
    this.configVector = VIRTIO_MSI_NO_VECTOR;
    this.queueVectors.fill(VIRTIO_MSI_NO_VECTOR);
    this.dfSelect = this.gfSelect = this.queueSel = 0;
    for (let i = 0; i < this.qregs.length; i++) Object.assign(this.qregs[i]!, { num: this.vdev.queues[i]!.maxNum, desc: 0, avail: 0, used: 0 });
    this.vdev.reset();
  }

  private configRead8(off: number, size: number): number {
    const cfg = this.vdev.config;
    let v = 0;
    for (let i = 0; i < size; i++) v |= (off + i < cfg.length ? cfg[off + i]! : 0) << (8 * i);
    return v >>> 0;
  }

  private setStatus(v: number): void {
    if ((v & 0xff) === 0) this.resetTransport();
    else this.vdev.setStatus(v);
  }

  // ---- legacy register block (virtio 0.9.5, in I/O BAR 0) ----

  private legacyRead(off: number, size: number): number {
    this.legacy = true;
    const d = this.vdev;
    const cfgBase = this.msix.enabled ? 0x18 : 0x14;
    if (off >= cfgBase) return this.configRead8(off - cfgBase, size);
    const q = d.queues[this.queueSel];
    switch (off) {
      case 0x00:
        return d.hostFeatures.lo;
      case 0x04:
        return d.guestFeatures.lo;
      case 0x08:
        return q && q.ready ? Math.floor(q.descAddr / 4096) : 0;
      case 0x0c:
        return q ? q.maxNum : 0;
      case 0x0e:
        return this.queueSel;
      case 0x12:
        return d.status;
      case 0x13:
        return this.readIsr();
      case 0x14:
        return this.configVector;
      case 0x16:
        return this.queueVectors[this.queueSel] ?? VIRTIO_MSI_NO_VECTOR;
      default:
        return 0;
    }
  }

  private legacyWrite(off: number, v: number, size: number): void {
    this.legacy = true;
    const d = this.vdev;
    const cfgBase = this.msix.enabled ? 0x18 : 0x14;
    if (off >= cfgBase) {
      d.configWrite(off - cfgBase, v, size);
      return;
    }
    const q = d.queues[this.queueSel];
    switch (off) {
      case 0x04:
        d.guestFeatures.lo = v >>> 0;
        break;
      case 0x08:
        if (!q) break;
        if (v === 0) q.reset();
        else {
          q.setLegacyRings(q.maxNum, (v >>> 0) * 4096, 4096);
          q.eventIdx = d.guestFeatures.has(29);
          q.ready = true;
        }
        break;
      case 0x0e:
        this.queueSel = v & 0xffff;
        break;
      case 0x10:
        d.kick(v & 0xffff);
        break;
      case 0x12:
        this.setStatus(v);
        break;
      case 0x14:
        this.configVector = v & 0xffff;
        break;
      case 0x16:
        if (this.queueSel < this.queueVectors.length) this.queueVectors[this.queueSel] = v & 0xffff;
        break;
    }
  }

  // ---- modern common configuration ----

  private commonRead(off: number, size: number): number {
    const d = this.vdev;
    const r = this.qregs[this.queueSel];
    const q = d.queues[this.queueSel];
    const v = ((): number => {
      switch (off & ~3) {
        case 0x00:
          return this.dfSelect;
        case 0x04:
          return d.hostFeatures.word(this.dfSelect);
        case 0x08:
          return this.gfSelect;
        case 0x0c:
          return d.guestFeatures.word(this.gfSelect);
        case 0x10:
          return this.configVector | (d.queues.length << 16);
        case 0x14:
          return d.status | ((d.configGeneration & 0xff) << 8) | (this.queueSel << 16);
        case 0x18:
          return (r ? r.num : 0) | ((this.queueVectors[this.queueSel] ?? VIRTIO_MSI_NO_VECTOR) << 16);
        case 0x1c:
          return (q && q.ready ? 1 : 0) | ((r ? this.queueSel : 0) << 16);
        case 0x20:
          return r ? r.desc % 0x100000000 : 0;
        case 0x24:
          return r ? Math.floor(r.desc / 0x100000000) : 0;
        case 0x28:
          return r ? r.avail % 0x100000000 : 0;
        case 0x2c:
          return r ? Math.floor(r.avail / 0x100000000) : 0;
        case 0x30:
          return r ? r.used % 0x100000000 : 0;
        case 0x34:
          return r ? Math.floor(r.used / 0x100000000) : 0;
        default:
          return 0;
      }
    })();
    const shift = 8 * (off & 3);
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return ((v >>> shift) & mask) >>> 0;
  }

  private commonWrite(off: number, v: number, size: number): void {
    const d = this.vdev;
    const r = this.qregs[this.queueSel];
    const q = d.queues[this.queueSel];
    switch (off) {
      case 0x00:
        this.dfSelect = v >>> 0;
        break;
      case 0x08:
        this.gfSelect = v >>> 0;
        break;
      case 0x0c:
        if (d.status & VIRTIO_STATUS_FEATURES_OK) break;
        if (this.gfSelect === 0) d.guestFeatures.lo = v >>> 0;
        else if (this.gfSelect === 1) d.guestFeatures.hi = v >>> 0;
        break;
      case 0x10:
        if (size === 2) this.configVector = v & 0xffff;
        break;
      case 0x14:
        this.setStatus(v & 0xff);
        break;
      case 0x16:
        this.queueSel = v & 0xffff;
        break;
      case 0x18:
        if (r && q && !q.ready) r.num = v & 0xffff && (v & 0xffff) <= q.maxNum ? v & 0xffff : r.num;
        break;
      case 0x1a:
        if (this.queueSel < this.queueVectors.length) this.queueVectors[this.queueSel] = v & 0xffff;
        break;
      case 0x1c:
        if (r && q && v & 1 && !q.ready) {
          q.setRings(r.num, r.desc, r.avail, r.used);
          q.eventIdx = d.guestFeatures.has(29);
          q.ready = true;
        }
        break;
      case 0x20:
      case 0x24:
        if (r) r.desc = setAddrHalf(r.desc, v, off === 0x24);
        break;
      case 0x28:
      case 0x2c:
        if (r) r.avail = setAddrHalf(r.avail, v, off === 0x2c);
        break;
      case 0x30:
      case 0x34:
        if (r) r.used = setAddrHalf(r.used, v, off === 0x34);
        break;
    }
  }

  /** Whether the function offers the modern interface (VERSION_1); a legacy-only driver never sets it. */
  get modernNegotiated(): boolean {
    return this.vdev.guestFeatures.has(VIRTIO_F_VERSION_1);
  }
}
