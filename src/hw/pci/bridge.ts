/**
 * A PCI-to-PCI bridge (QEMU's "pci-bridge", 1b36:0001, class 0x0604, type 1
 * header) with a secondary bus.
 *
 * Config cycles for buses secondary..subordinate are forwarded (routing lives
 * in PciBus.configReadBdf). Three forwarding windows decode in the primary
 * bus's spaces, as aliases of the secondary bus's spaces at the same
 * addresses: I/O (16-bit, 4 KiB granularity) while I/O decode is on, memory
 * and prefetchable memory (64-bit, 1 MiB granularity) while memory decode is
 * on, each only when base <= limit. They are decoding slots 7, 8 and 9 of the
 * bridge function, so they follow the same rules and priority order as BARs,
 * change in one memory transaction, and are updated with the domain lock held
 * for writing. The secondary bus's DMA root is the bridge's own bus-master
 * region: functions behind a bridge reach memory only while both they and the
 * bridge have bus mastering on. INTx: the secondary bus swizzles its functions
 * onto four lines that the bridge drives as its own pins INTA..INTD on the
 * primary bus, which swizzles again by the bridge's slot.
 *
 * The secondary bus shares the domain lock and function-lock factory of the
 * primary: one PCI domain, one lock.
 */
import { irqLine } from '../irq.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { BAR_UNMAPPED, PCI_IO_SPACE_SIZE, PCI_MEM_DECODE_LIMIT, PciError } from './bar.js';
import { PciBus } from './bus.js';
import { PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_STATUS_RW1C } from './constants.js';
import { IO_WINDOW_SLOT, MEM_WINDOW_SLOT, PREF_WINDOW_SLOT, PciDevice, type PciBusPort, type SlotDecode } from './device.js';

export const PCI_PRIMARY_BUS = 0x18;
export const PCI_SECONDARY_BUS = 0x19;
export const PCI_SUBORDINATE_BUS = 0x1a;
export const PCI_IO_BASE = 0x1c;
export const PCI_IO_LIMIT = 0x1d;
export const PCI_SEC_STATUS = 0x1e;
export const PCI_MEMORY_BASE = 0x20;
export const PCI_MEMORY_LIMIT = 0x22;
export const PCI_PREF_MEMORY_BASE = 0x24;
export const PCI_PREF_MEMORY_LIMIT = 0x26;
export const PCI_PREF_BASE_UPPER32 = 0x28;
export const PCI_PREF_LIMIT_UPPER32 = 0x2c;
export const PCI_BRIDGE_CONTROL = 0x3e;

export interface PciBridgeOptions {
  readonly name?: string;
  readonly vendorId?: number;
  readonly deviceId?: number;
}

export class PciBridge extends PciDevice {
  /** The secondary bus (exists once the bridge is on a bus). */
  secondary: PciBus | null = null;
  /** The secondary bus's PCI memory and I/O spaces. */
  readonly secondaryMemory: MemoryRegion;
  readonly secondaryIo: MemoryRegion;

  constructor(opts: PciBridgeOptions = {}) {
    super({
      name: opts.name ?? 'pci-bridge',
      vendorId: opts.vendorId ?? 0x1b36,
      deviceId: opts.deviceId ?? 0x0001,
      classCode: 0x060400,
      headerType: 1,
    });
    this.secondaryMemory = MemoryRegion.container(`${this.name}.pci_bridge_mem`, REGION_SIZE_MAX);
    this.secondaryIo = MemoryRegion.container(`${this.name}.pci_bridge_io`, PCI_IO_SPACE_SIZE);
    const c = this.config;
    const remap = (v: number, old: number): void => {
      if (v !== old) this.remap();
    };
    c.add({ name: 'primary-bus', offset: PCI_PRIMARY_BUS, size: 1 });
    c.add({ name: 'secondary-bus', offset: PCI_SECONDARY_BUS, size: 1 });
    c.add({ name: 'subordinate-bus', offset: PCI_SUBORDINATE_BUS, size: 1 });
    c.add({ name: 'secondary-latency', offset: 0x1b, size: 1, ro: 0xff });
    // 16-bit I/O decoding: the low nibble (addressing capability) reads 0.
    c.add({ name: 'io-base', offset: PCI_IO_BASE, size: 1, ro: 0x0f, changed: remap });
    c.add({ name: 'io-limit', offset: PCI_IO_LIMIT, size: 1, ro: 0x0f, changed: remap });
    c.add({ name: 'secondary-status', offset: PCI_SEC_STATUS, size: 2, rw1c: PCI_STATUS_RW1C, ro: ~PCI_STATUS_RW1C & 0xffff });
    c.add({ name: 'memory-base', offset: PCI_MEMORY_BASE, size: 2, ro: 0x000f, changed: remap });
    c.add({ name: 'memory-limit', offset: PCI_MEMORY_LIMIT, size: 2, ro: 0x000f, changed: remap });
    // 64-bit prefetchable window: the low nibble reads 1.
    c.add({ name: 'pref-base', offset: PCI_PREF_MEMORY_BASE, size: 2, reset: 0x1, ro: 0x000f, changed: remap });
    c.add({ name: 'pref-limit', offset: PCI_PREF_MEMORY_LIMIT, size: 2, reset: 0x1, ro: 0x000f, changed: remap });
    c.add({ name: 'pref-base-upper', offset: PCI_PREF_BASE_UPPER32, size: 4, changed: remap });
    c.add({ name: 'pref-limit-upper', offset: PCI_PREF_LIMIT_UPPER32, size: 4, changed: remap });
    c.add({ name: 'io-base-upper', offset: 0x30, size: 2, ro: 0xffff });
    c.add({ name: 'io-limit-upper', offset: 0x32, size: 2, ro: 0xffff });
    // Parity, SERR, ISA, VGA, VGA 16-bit, master abort, secondary bus reset, fast back-to-back.
    c.add({ name: 'bridge-control', offset: PCI_BRIDGE_CONTROL, size: 2, ro: ~0x00ff & 0xffff });
    const window = (slot: number, kind: 'io' | 'mem64', name: string, target: MemoryRegion, prefetchable: boolean): void => {
      const region = MemoryRegion.alias(`${this.name}.${name}`, target, 0, 0x1000);
      this.bars[slot] = { slot, kind, prefetchable, size: 0x1000, region, mappedAt: BAR_UNMAPPED };
    };
    window(IO_WINDOW_SLOT, 'io', 'pci_bridge_io', this.secondaryIo, false);
    window(MEM_WINDOW_SLOT, 'mem64', 'pci_bridge_mem', this.secondaryMemory, false);
    window(PREF_WINDOW_SLOT, 'mem64', 'pci_bridge_pref_mem', this.secondaryMemory, true);
  }

  override get secondaryBus(): PciBusPort | null {
    return this.secondary;
  }

  get secondaryBusNumber(): number {
    return this.config.stored(PCI_SECONDARY_BUS);
  }

  get subordinateBusNumber(): number {
    return this.config.stored(PCI_SUBORDINATE_BUS);
  }

  /** Put a function on the secondary bus (see PciBus.addDevice). */
  addDevice(dev: PciDevice, devfn?: number): number {
    if (!this.secondary) throw new PciError(`${this.name}: put the bridge on a bus first`);
    return this.secondary.addDevice(dev, devfn);
  }

  protected override decodeWindow(slot: number): SlotDecode | null {
    const c = this.config;
    const cmd = this.command;
    let base: number;
    let limit: number;
    if (slot === IO_WINDOW_SLOT) {
      if (!(cmd & PCI_COMMAND_IO)) return null;
      base = (c.stored(PCI_IO_BASE) & 0xf0) << 8;
      limit = ((c.stored(PCI_IO_LIMIT) & 0xf0) << 8) | 0xfff;
    } else if (slot === MEM_WINDOW_SLOT) {
      if (!(cmd & PCI_COMMAND_MEMORY)) return null;
      base = ((c.stored(PCI_MEMORY_BASE) & 0xfff0) << 16) >>> 0;
      limit = (((c.stored(PCI_MEMORY_LIMIT) & 0xfff0) << 16) | 0xfffff) >>> 0;
    } else if (slot === PREF_WINDOW_SLOT) {
      if (!(cmd & PCI_COMMAND_MEMORY)) return null;
      base = c.stored(PCI_PREF_BASE_UPPER32) * 2 ** 32 + (((c.stored(PCI_PREF_MEMORY_BASE) & 0xfff0) << 16) >>> 0);
      limit = c.stored(PCI_PREF_LIMIT_UPPER32) * 2 ** 32 + ((((c.stored(PCI_PREF_MEMORY_LIMIT) & 0xfff0) << 16) | 0xfffff) >>> 0);
    } else {
      return null;
    }
    if (base > limit || limit >= PCI_MEM_DECODE_LIMIT) return null;
    return { address: base, size: limit - base + 1 };
  }

  override prepareSlot(slot: number, d: SlotDecode): void {
    if (slot < IO_WINDOW_SLOT) return;
    const alias = this.bars[slot]!.region;
    alias.setAliasOffset(d.address);
    alias.setSize(d.size);
  }

  override attach(bus: PciBusPort, devfn: number, dmaRoot: MemoryRegion): void {
    if (!(bus instanceof PciBus)) throw new PciError(`${this.name}: a bridge needs a PciBus as its primary bus`);
    super.attach(bus, devfn, dmaRoot);
    const lines = [0, 1, 2, 3].map((pin) => irqLine((level) => bus.pinChanged(this.devfn, pin, level)));
    this.secondary = new PciBus({
      name: `${this.name}.0`,
      number: () => this.secondaryBusNumber,
      memory: this.secondaryMemory,
      io: this.secondaryIo,
      dmaRoot: this.busMasterContainer!,
      intx: lines,
      msiSink: bus.msiSink,
      locking: bus.locking,
      syncEnv: bus.syncEnv,
    });
  }
}
