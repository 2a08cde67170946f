/**
 * A PCI function: its type 0 config header, BARs, expansion ROM, capability
 * list, INTx pin and bus-master DMA address space.
 *
 * The function's registers live in a ConfigRegisters file. Registers whose
 * writes change the memory map (command, BARs, ROM BAR) call back into the
 * bus, which recomputes the mappings while holding the PCI domain lock for
 * writing (see bus.ts); everything else is local to the function.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { ownerLifetime, type Completion } from '../../memory/lifetime.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import { MemoryRegion } from '../../memory/region.js';
import { memoryTransaction } from '../../memory/transaction.js';
import { memTxAttrs, type MemTxAttrs } from '../../memory/types.js';
import type { SyncEnv } from '../../sync/env.js';
import { BAR_UNMAPPED, PciError, barAddress, barFlags, barHighMask, barLowMask, isPow2, romAddress, type BarKind, type BarSpec } from './bar.js';
import { ConfigRegisters } from './config-regs.js';
import {
  PCIE_CONFIG_SPACE_SIZE,
  PCI_BASE_ADDRESS_0,
  PCI_BIST,
  PCI_CACHE_LINE_SIZE,
  PCI_CAPABILITY_LIST,
  PCI_CARDBUS_CIS,
  PCI_CLASS_DEVICE,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_WRITABLE,
  PCI_CONFIG_HEADER_END,
  PCI_CONFIG_SPACE_SIZE,
  PCI_DEVICE_ID,
  PCI_HEADER_TYPE,
  PCI_HEADER_TYPE_MULTI_FUNCTION,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_LATENCY_TIMER,
  PCI_MAX_LAT,
  PCI_MIN_GNT,
  PCI_NUM_REGIONS,
  PCI_REVISION_ID,
  PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_INTERRUPT,
  PCI_STATUS_RW1C,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
  formatBdf,
} from './constants.js';

export interface PciDeviceInfo {
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  /** base class << 16 | sub-class << 8 | programming interface. */
  readonly classCode: number;
  readonly revision?: number;
  /** Default 0x1af4:0x1100, QEMU's default subsystem for its devices. */
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** 0 = no INTx, 1..4 = INTA..INTD. */
  readonly interruptPin?: 0 | 1 | 2 | 3 | 4;
  /** A PCI Express function: 4 KiB config space (add the PCIe capability with addPcieCapability). */
  readonly express?: boolean;
  readonly multifunction?: boolean;
  /** 0 (default): an endpoint; 1: a PCI-to-PCI bridge header (use PciBridge). */
  readonly headerType?: 0 | 1;
}

/** What a function needs from the bus it sits on (implemented by PciBus). */
export interface PciBusPort {
  /** The bus number (0 for the root bus; a bridge's secondary bus number register otherwise). */
  readonly number: number;
  /** The env of the bus's locks: the function's lifetime tracker uses it too. */
  readonly syncEnv?: SyncEnv;
  /** Re-decode the function's BARs; called with the domain lock held for writing. */
  updateMappings(dev: PciDevice): void;
  /** The function's effective INTx level changed. */
  intxChanged(dev: PciDevice, level: boolean): void;
  /** Deliver a message-signalled interrupt written by the function (bus mastering already checked). */
  deliverMsi(dev: PciDevice, address: number, data: number): void;
}

/**
 * One decoding slot: BARs 0..5, the expansion ROM (6), and on bridges the
 * I/O (7), memory (8) and prefetchable memory (9) forwarding windows.
 */
export interface BarSlot {
  readonly slot: number;
  readonly kind: BarKind;
  readonly prefetchable: boolean;
  /** BAR size; for windows, the size currently mapped. */
  size: number;
  readonly region: MemoryRegion;
  /** Where it is mapped in its space right now, or BAR_UNMAPPED (maintained by the bus). */
  mappedAt: number;
}

export const ROM_SLOT = 6;
export const IO_WINDOW_SLOT = 7;
export const MEM_WINDOW_SLOT = 8;
export const PREF_WINDOW_SLOT = 9;
export const LAST_SLOT = 9;

/** Where a slot should decode: address and size, or null. */
export interface SlotDecode {
  readonly address: number;
  readonly size: number;
}

interface Capability {
  readonly id: number;
  readonly offset: number;
  readonly size: number;
}

const DEFAULT_SUBSYSTEM_VENDOR = 0x1af4;
const DEFAULT_SUBSYSTEM_ID = 0x1100;

export class PciDevice implements DeviceOwner {
  readonly name: string;
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly info: PciDeviceInfo;
  readonly config: ConfigRegisters;
  /** BAR slots 0..5 and the ROM at 6; null where nothing is registered. */
  readonly bars: (BarSlot | null)[] = [null, null, null, null, null, null, null, null, null, null];
  /** Type 0 or 1 (bridge) header. */
  readonly headerType: 0 | 1;
  /** Config offset of the expansion ROM BAR (0x30 in type 0, 0x38 in type 1). */
  readonly romOffset: number;

  bus: PciBusPort | null = null;
  devfn = -1;
  /** Set once the function is removed: config accesses read all-ones and drop writes from then on. */
  removed = false;
  /**
   * The removal in progress or done (PciBus.unplug): done once every config
   * and BAR access that had reached the function returned and every DMA
   * mapping it made (or made into its BARs) was unmapped; onUnrealized runs then.
   */
  removal: Completion | null = null;
  /** The env of the bus the function was plugged into (its lifetime tracker's env). */
  syncEnv?: SyncEnv;
  /** The function's DMA view (QEMU's bus_master_as); null until it is on a bus. */
  dmaAs: AddressSpace | null = null;
  private attrsCache: MemTxAttrs = memTxAttrs({});
  /** MSI writes dropped because bus mastering was off. */
  msiDropped = 0;

  private readonly caps: Capability[] = [];
  private nextCapOffset = PCI_CONFIG_HEADER_END;
  /** Root of the DMA address space; bridges hand it to their secondary bus as its DMA root. */
  protected busMasterContainer: MemoryRegion | null = null;
  private busMasterAlias: MemoryRegion | null = null;
  /** The level the device model drives on its pin. */
  private intxLevel = false;
  /** The level last reported to the bus (pin level gated by INTx disable). */
  private intxAsserted = false;

  constructor(info: PciDeviceInfo) {
    this.info = info;
    this.name = info.name;
    this.headerType = info.headerType ?? 0;
    this.romOffset = this.headerType === 1 ? 0x38 : PCI_ROM_ADDRESS;
    this.config = new ConfigRegisters(info.express ? PCIE_CONFIG_SPACE_SIZE : PCI_CONFIG_SPACE_SIZE);
    this.buildHeader();
  }

  // ---- header ------------------------------------------------------------

  private buildHeader(): void {
    const c = this.config;
    const i = this.info;
    const ro16 = 0xffff;
    const ro8 = 0xff;
    c.add({ name: 'vendor', offset: PCI_VENDOR_ID, size: 2, reset: i.vendorId & 0xffff, ro: ro16 });
    c.add({ name: 'device', offset: PCI_DEVICE_ID, size: 2, reset: i.deviceId & 0xffff, ro: ro16 });
    c.add({
      name: 'command',
      offset: PCI_COMMAND,
      size: 2,
      ro: ~PCI_COMMAND_WRITABLE & 0xffff,
      changed: (v, old) => this.commandChanged(v, old),
    });
    c.add({
      name: 'status',
      offset: PCI_STATUS,
      size: 2,
      rw1c: PCI_STATUS_RW1C,
      ro: ~PCI_STATUS_RW1C & 0xffff,
      read: (stored) =>
        (stored & PCI_STATUS_RW1C) | (this.caps.length ? PCI_STATUS_CAP_LIST : 0) | (this.intxLevel ? PCI_STATUS_INTERRUPT : 0),
    });
    c.add({ name: 'revision', offset: PCI_REVISION_ID, size: 1, reset: (i.revision ?? 0) & 0xff, ro: ro8 });
    c.add({ name: 'prog-if', offset: PCI_CLASS_PROG, size: 1, reset: i.classCode & 0xff, ro: ro8 });
    c.add({ name: 'class', offset: PCI_CLASS_DEVICE, size: 2, reset: (i.classCode >>> 8) & 0xffff, ro: ro16 });
    c.add({ name: 'cache-line', offset: PCI_CACHE_LINE_SIZE, size: 1 });
    c.add({ name: 'latency', offset: PCI_LATENCY_TIMER, size: 1, ro: ro8 });
    c.add({
      name: 'header-type',
      offset: PCI_HEADER_TYPE,
      size: 1,
      reset: (i.multifunction ? PCI_HEADER_TYPE_MULTI_FUNCTION : 0) | this.headerType,
      ro: ro8,
    });
    c.add({ name: 'bist', offset: PCI_BIST, size: 1, ro: ro8 });
    const nBars = this.headerType === 1 ? 2 : PCI_NUM_REGIONS;
    for (let n = 0; n < nBars; n++) {
      c.add({
        name: `bar${n}`,
        offset: PCI_BASE_ADDRESS_0 + 4 * n,
        size: 4,
        write: (v) => this.barWrite(n, v),
        changed: (v, old) => {
          if (v !== old) this.remap();
        },
      });
    }
    if (this.headerType === 0) {
      c.add({ name: 'cardbus-cis', offset: PCI_CARDBUS_CIS, size: 4, ro: 0xffffffff });
      c.add({
        name: 'subsystem-vendor',
        offset: PCI_SUBSYSTEM_VENDOR_ID,
        size: 2,
        reset: (i.subsystemVendorId ?? DEFAULT_SUBSYSTEM_VENDOR) & 0xffff,
        ro: ro16,
      });
      c.add({ name: 'subsystem', offset: PCI_SUBSYSTEM_ID, size: 2, reset: (i.subsystemId ?? DEFAULT_SUBSYSTEM_ID) & 0xffff, ro: ro16 });
      c.add({ name: 'reserved-38', offset: 0x38, size: 4, ro: 0xffffffff });
    }
    c.add({
      name: 'rom',
      offset: this.romOffset,
      size: 4,
      write: (v) => this.romWrite(v),
      changed: (v, old) => {
        if (v !== old) this.remap();
      },
    });
    c.add({ name: 'cap-ptr', offset: PCI_CAPABILITY_LIST, size: 1, ro: ro8 });
    c.add({ name: 'reserved-35', offset: 0x35, size: 1, ro: ro8 });
    c.add({ name: 'reserved-36', offset: 0x36, size: 2, ro: ro16 });
    c.add({ name: 'interrupt-line', offset: PCI_INTERRUPT_LINE, size: 1 });
    c.add({ name: 'interrupt-pin', offset: PCI_INTERRUPT_PIN, size: 1, reset: i.interruptPin ?? 0, ro: ro8 });
    if (this.headerType === 0) {
      c.add({ name: 'min-gnt', offset: PCI_MIN_GNT, size: 1, ro: ro8 });
      c.add({ name: 'max-lat', offset: PCI_MAX_LAT, size: 1, ro: ro8 });
    }
    if (i.express) {
      // Terminate the (empty) extended capability list so software reads a 0 header, not all-ones.
      c.add({ name: 'ext-cap-end', offset: 0x100, size: 4, ro: 0xffffffff });
    }
  }

  get command(): number {
    return this.config.stored(PCI_COMMAND);
  }

  get busMasterEnabled(): boolean {
    return (this.command & PCI_COMMAND_MASTER) !== 0;
  }

  /** PCI requester id (bus << 8 | devfn), -1 while not on a bus. */
  get requesterId(): number {
    return this.bus && this.devfn >= 0 ? (this.bus.number << 8) | this.devfn : -1;
  }

  /**
   * Attributes of the function's DMA: the requester id is its BDF, which
   * changes when firmware renumbers the bus behind a bridge.
   */
  get dmaAttrs(): MemTxAttrs {
    const rid = this.requesterId;
    if (this.attrsCache.requesterId !== rid) this.attrsCache = memTxAttrs({ requesterId: rid });
    return this.attrsCache;
  }

  get bdf(): string {
    return this.bus ? formatBdf(this.bus.number, this.devfn) : '--:--.-';
  }

  // ---- BARs --------------------------------------------------------------

  /** Register BAR `index` (before the function is put on a bus). A 64-bit BAR also takes index + 1. */
  registerBar(index: number, spec: BarSpec): void {
    if (this.bus) throw new PciError(`${this.name}: BARs must be registered before the function is on a bus`);
    const nBars = this.headerType === 1 ? 2 : PCI_NUM_REGIONS;
    if (!Number.isInteger(index) || index < 0 || index >= nBars) throw new PciError(`${this.name}: BAR index ${index} out of range`);
    const size = spec.region.size;
    const min = spec.kind === 'io' ? 4 : 16;
    if (!isPow2(size) || size < min) throw new PciError(`${this.name}: BAR${index} size ${size} must be a power of two >= ${min}`);
    if (spec.kind === 'io' && size > 0x10000) throw new PciError(`${this.name}: I/O BAR${index} larger than the I/O space`);
    if (spec.kind === 'mem32' && size > 2 ** 31) throw new PciError(`${this.name}: 32-bit BAR${index} of ${size} bytes`);
    if (spec.kind === 'mem64' && (index === nBars - 1 || this.bars[index + 1])) {
      throw new PciError(`${this.name}: 64-bit BAR${index} needs BAR${index + 1} free`);
    }
    if (this.bars[index] || this.isHighHalf(index)) throw new PciError(`${this.name}: BAR${index} already registered`);
    if (spec.kind === 'io' && spec.prefetchable) throw new PciError(`${this.name}: I/O BAR${index} cannot be prefetchable`);
    const slot: BarSlot = { slot: index, kind: spec.kind, prefetchable: !!spec.prefetchable, size, region: spec.region, mappedAt: BAR_UNMAPPED };
    this.bars[index] = slot;
    this.config.setResetValue(PCI_BASE_ADDRESS_0 + 4 * index, barFlags(spec.kind, slot.prefetchable));
  }

  /** Register the expansion ROM (a ROM region of a power-of-two size >= 2 KiB). */
  registerRom(region: MemoryRegion): void {
    if (this.bus) throw new PciError(`${this.name}: the ROM must be registered before the function is on a bus`);
    if (!isPow2(region.size) || region.size < 0x800 || region.size > 2 ** 31) {
      throw new PciError(`${this.name}: ROM size ${region.size} must be a power of two in [2 KiB, 2 GiB]`);
    }
    if (this.bars[ROM_SLOT]) throw new PciError(`${this.name}: ROM already registered`);
    this.bars[ROM_SLOT] = { slot: ROM_SLOT, kind: 'mem32', prefetchable: false, size: region.size, region, mappedAt: BAR_UNMAPPED };
  }

  private isHighHalf(index: number): boolean {
    return index > 0 && this.bars[index - 1]?.kind === 'mem64';
  }

  private barWrite(index: number, v: number): number {
    const bar = this.bars[index];
    if (bar) return ((v & barLowMask(bar.kind, bar.size)) | barFlags(bar.kind, bar.prefetchable)) >>> 0;
    if (this.isHighHalf(index)) return (v & barHighMask(this.bars[index - 1]!.size)) >>> 0;
    return 0;
  }

  private romWrite(v: number): number {
    const rom = this.bars[ROM_SLOT];
    if (!rom) return 0;
    return ((v & ~(rom.size - 1) & ~0x7fe) | (v & PCI_ROM_ADDRESS_ENABLE)) >>> 0;
  }

  /**
   * Where slot `slot` should decode given the current config registers, or
   * null. Pure: reads registers only. Bridges add their windows (slots 7..9).
   */
  decodeSlot(slot: number): SlotDecode | null {
    const bar = this.bars[slot];
    if (!bar || this.removed) return null;
    if (slot > ROM_SLOT) return this.decodeWindow(slot);
    const cmd = this.command;
    let addr: number;
    if (slot === ROM_SLOT) {
      addr = romAddress(bar.size, cmd, this.config.stored(this.romOffset));
    } else {
      const lo = this.config.stored(PCI_BASE_ADDRESS_0 + 4 * slot);
      const hi = bar.kind === 'mem64' ? this.config.stored(PCI_BASE_ADDRESS_0 + 4 * (slot + 1)) : 0;
      addr = barAddress(bar.kind, bar.size, cmd, lo, hi);
    }
    return addr === BAR_UNMAPPED ? null : { address: addr, size: bar.size };
  }

  /** Where BAR/ROM slot `slot` decodes, or BAR_UNMAPPED. */
  decodeBar(slot: number): number {
    return this.decodeSlot(slot)?.address ?? BAR_UNMAPPED;
  }

  /** Bridges: where forwarding window `slot` (7..9) decodes. */
  protected decodeWindow(_slot: number): SlotDecode | null {
    return null;
  }

  /** Called by the bus before mapping slot `slot` at a new place (bridges resize their window aliases). */
  prepareSlot(_slot: number, _d: SlotDecode): void {}

  /** Bridges: the secondary bus behind this function. */
  get secondaryBus(): PciBusPort | null {
    return null;
  }

  protected remap(): void {
    if (this.bus && !this.removed) this.bus.updateMappings(this);
  }

  // ---- command register --------------------------------------------------

  private commandChanged(v: number, old: number): void {
    const changed = v ^ old;
    if (changed & PCI_COMMAND_MASTER) {
      const on = (v & PCI_COMMAND_MASTER) !== 0;
      this.busMasterAlias?.setEnabled(on);
      this.onBusMasterChanged(on);
    }
    if (changed & PCI_COMMAND_INTX_DISABLE) this.updateIntx();
    if (changed & 0x3) this.remap();
  }

  /**
   * Bus Master Enable changed. Clearing it is a DMA barrier (docs/dma.md):
   * a device with DMA still in flight revokes it here, synchronously, so once
   * the guest's config write has returned nothing issued before it reaches
   * memory, even after the bit is set again. The DMA view is already gated.
   */
  protected onBusMasterChanged(_enabled: boolean): void {}

  // ---- capabilities ------------------------------------------------------

  /**
   * Append a capability of `size` bytes with id `id` to the list. The header
   * (id, next) is registered here; `build(offset)` registers the rest, from
   * offset + 2. Returns the capability's offset.
   */
  addCapability(id: number, size: number, build: (offset: number) => void): number {
    if (this.bus) throw new PciError(`${this.name}: capabilities must be added before the function is on a bus`);
    const offset = this.nextCapOffset;
    const aligned = (size + 3) & ~3;
    if (size < 2 || offset + aligned > PCI_CONFIG_SPACE_SIZE) throw new PciError(`${this.name}: capability 0x${id.toString(16)} does not fit`);
    this.config.add({ name: `cap-${id.toString(16)}-id`, offset, size: 1, reset: id & 0xff, ro: 0xff });
    this.config.add({ name: `cap-${id.toString(16)}-next`, offset: offset + 1, size: 1, ro: 0xff });
    build(offset);
    const prev = this.caps[this.caps.length - 1];
    if (prev) this.config.setResetValue(prev.offset + 1, offset);
    else this.config.setResetValue(PCI_CAPABILITY_LIST, offset);
    this.caps.push({ id, offset, size });
    this.nextCapOffset = offset + aligned;
    return offset;
  }

  /** Offset of the first capability with this id, or 0. */
  findCapability(id: number): number {
    return this.caps.find((c) => c.id === id)?.offset ?? 0;
  }

  // ---- config access (called by the bus with the domain lock held) -------

  configRead(offset: number, size: number): number {
    if (this.removed) {
      // Callers that reach a removed function hold a stale reference (the bus looks functions up under its lock).
      ownerLifetime(this).check('config read');
      return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    }
    return this.config.read(offset, size);
  }

  configWrite(offset: number, size: number, value: number): void {
    if (this.removed) {
      ownerLifetime(this).check('config write');
      return;
    }
    this.config.write(offset, size, value);
  }

  // ---- INTx --------------------------------------------------------------

  /** Drive the function's INTx pin (level-triggered). A no-op for functions without a pin. */
  setIntx(level: boolean): void {
    if (!this.info.interruptPin) return;
    this.intxLevel = level;
    this.updateIntx();
  }

  get intxPinLevel(): boolean {
    return this.intxLevel;
  }

  private updateIntx(): void {
    const eff = this.intxLevel && !(this.command & PCI_COMMAND_INTX_DISABLE) && !this.removed && this.bus !== null;
    if (eff === this.intxAsserted) return;
    this.intxAsserted = eff;
    this.bus?.intxChanged(this, eff);
  }

  // ---- MSI ---------------------------------------------------------------

  /**
   * Send a message-signalled interrupt. Like QEMU, the MSI write is a DMA
   * write by the function, so it goes nowhere while bus mastering is off.
   */
  sendMsi(address: number, data: number): void {
    if (!this.bus || this.removed) return;
    if (!this.busMasterEnabled) {
      this.msiDropped++;
      return;
    }
    this.bus.deliverMsi(this, address, data);
  }

  // ---- life cycle (called by the bus) ------------------------------------

  /** Put the function on `bus` at `devfn`; its DMA reaches `dmaRoot` while bus mastering is on. */
  attach(bus: PciBusPort, devfn: number, dmaRoot: MemoryRegion): void {
    if (this.bus || this.removed) throw new PciError(`${this.name}: already on a bus (or removed)`);
    this.bus = bus;
    if (bus.syncEnv) this.syncEnv = bus.syncEnv;
    this.devfn = devfn;
    // QEMU's "bus master container" holding a "bus master" alias of the DMA root, enabled with BUS_MASTER.
    const container = MemoryRegion.container('bus master container', dmaRoot.size);
    const alias = MemoryRegion.alias('bus master', dmaRoot, 0, dmaRoot.size);
    memoryTransaction(() => {
      alias.setEnabled(this.busMasterEnabled);
      container.addSubregion(0, alias);
    });
    this.busMasterContainer = container;
    this.busMasterAlias = alias;
    // Owned by the function: its DMA mappings hold it alive (unplug waits for them).
    this.dmaAs = new AddressSpace(container, this.name, { owner: this });
  }

  /**
   * Take the function off its bus (called by the bus inside a memory
   * transaction, with the domain lock held for writing). From now on config
   * accesses read all-ones, INTx is deasserted and DMA decodes to nothing.
   */
  detach(): void {
    if (this.intxAsserted) {
      this.intxAsserted = false;
      this.bus?.intxChanged(this, false);
    }
    this.removed = true;
    this.busMasterAlias?.setEnabled(false);
    this.onRemoved();
    this.bus = null;
  }

  /** Destroy the DMA address space of a removed function (outside any memory transaction). */
  releaseDma(): void {
    if (!this.removed) return;
    this.dmaAs?.destroy();
    this.dmaAs = null;
    this.busMasterContainer = null;
  }

  /** Subclasses stop timers and bottom halves here. */
  protected onRemoved(): void {}

  /**
   * @internal Called by the bus once the removal drained: the DMA view is
   * released, then onUnrealized frees the device's state.
   */
  finalizeRemoval(): void {
    this.releaseDma();
    this.onUnrealized();
  }

  /**
   * Subclasses free their state here: it runs once nothing can reach the
   * function any more (no config or BAR access in flight, no DMA mapping).
   */
  protected onUnrealized(): void {}

  private readonly resetHooks: (() => void)[] = [];

  /** Run `fn` on every function reset (capabilities clear their own state). */
  addResetHook(fn: () => void): void {
    this.resetHooks.push(fn);
  }

  /**
   * Function reset (system reset): registers back to their reset values, INTx
   * low, capability and device state cleared. Called by the bus, which then
   * re-decodes the BARs (all off: the command register is 0).
   */
  resetFunction(): void {
    if (this.removed) return;
    const wasMaster = this.busMasterEnabled;
    this.config.reset();
    this.busMasterAlias?.setEnabled(false);
    if (wasMaster) this.onBusMasterChanged(false);
    for (const h of this.resetHooks) h();
    this.onReset();
    this.intxLevel = false;
    this.updateIntx();
  }

  /** Subclasses clear their device state here. */
  protected onReset(): void {}
}
