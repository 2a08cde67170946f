/**
 * The devices of a virt machine by id (QEMU's /machine/peripheral), for the
 * monitors' device_add, device_del, info qtree and query-pci: `-device`
 * entries are plugged through here, so each one knows what it became (the
 * PCI functions it added, the virtio-mmio slot it took).
 *
 * Hot-plug follows QEMU 7.2's rules for this board: the PCIe root bus
 * (pcie.0) and the virtio-mmio buses do not support hot-plug; the bus behind
 * a pci-bridge does (QEMU's SHPC), in slots 1 to 31. tsvmm has no SHPC
 * controller, so a hot-added function is found by a guest rescan, and
 * device_del removes at once (surprise removal that completes when the
 * function's in-flight work drains) instead of waiting for the guest's ack.
 */
import type { PciBus } from '../../hw/pci/bus.js';
import type { PciDevice } from '../../hw/pci/device.js';
import { PciBridge } from '../../hw/pci/bridge.js';
import { DeviceSpecError, VIRT_DEVICES, type DevicePlugContext } from './devices.js';
import type { VirtMachine } from './virt.js';
import type { ChardevRegistry } from '../../hw/char/chardev-registry.js';

export interface InventoryEntry {
  /** The id= given, or QEMU's anonymous path index. */
  readonly id: string | null;
  readonly driver: string;
  readonly props: Readonly<Record<string, string>>;
  /** "pcie.0", a bridge id, "virtio-mmio-bus.N". */
  readonly bus: string;
  readonly pci: PciDevice[];
  readonly mmioSlot: number | null;
  readonly hotplugged: boolean;
  /** QOM path: /machine/peripheral/ID or /machine/peripheral-anon/device[N]. */
  readonly path: string;
}

/** Why device_add / device_del refused (QEMU's error classes). */
export class DeviceHotplugError extends Error {
  constructor(
    message: string,
    readonly errorClass: 'GenericError' | 'DeviceNotFound' = 'GenericError',
    /** A child QEMU had already built and announces as deleted when the add fails (see plug). */
    readonly deletedPath?: string,
  ) {
    super(message);
    this.name = 'DeviceHotplugError';
  }
}

const ID_RE = /^[A-Za-z][A-Za-z0-9._-]*$/;

export class DeviceInventory {
  private readonly entries: InventoryEntry[] = [];
  private anon = 0;
  /** The plug context every -device and -drive shortcut goes through (block I/O errors become machine events). */
  readonly ctx: DevicePlugContext;

  constructor(
    private readonly machine: VirtMachine,
    readonly drives: ReadonlyMap<string, Readonly<Record<string, string>>>,
    chardevs?: ChardevRegistry,
  ) {
    this.ctx = {
      machine,
      drives,
      chardevs,
      onBlockIoError: (id, operation, error) =>
        machine.events.emit({
          event: 'BLOCK_IO_ERROR',
          data: { device: id, 'node-name': `#block-${id}`, operation: operation === 'read' ? 'read' : 'write', action: 'report', nospace: (error as NodeJS.ErrnoException).code === 'ENOSPC', reason: error.message },
        }),
    };
  }

  /** Record devices a plug function adds outside -device (QEMU's -drive if=virtio). */
  record(driver: string, props: Readonly<Record<string, string>>, plug: () => void): void {
    const before = this.allPci();
    plug();
    for (const d of this.allPci()) {
      if (before.has(d)) continue;
      const bus = this.pciBuses().find((b) => b.bus.devices().includes(d))?.name ?? 'pcie.0';
      this.entries.push({ id: null, driver, props, bus, pci: [d], mmioSlot: null, hotplugged: false, path: `/machine/peripheral-anon/device[${this.anon++}]` });
    }
  }

  list(): readonly InventoryEntry[] {
    return this.entries;
  }

  find(id: string): InventoryEntry | undefined {
    return this.entries.find((e) => e.id === id);
  }

  /** Every PCI bus: the root bus and each bridge's secondary bus, with the bridge that owns it. */
  pciBuses(): { bus: PciBus; name: string; bridge: PciBridge | null }[] {
    const out: { bus: PciBus; name: string; bridge: PciBridge | null }[] = [];
    const walk = (bus: PciBus, name: string, bridge: PciBridge | null): void => {
      out.push({ bus, name, bridge });
      for (const d of bus.devices()) if (d instanceof PciBridge && d.secondary && !d.removed) walk(d.secondary, d.name, d);
    };
    walk(this.machine.gpex.bus, 'pcie.0', null);
    return out;
  }

  private allPci(): Set<PciDevice> {
    const s = new Set<PciDevice>();
    for (const b of this.pciBuses()) for (const d of b.bus.devices()) s.add(d);
    return s;
  }

  /** Cold-plug the -device list (before the guest runs). */
  plugAll(specs: readonly { driver: string; props: Record<string, string> }[]): void {
    for (const s of specs) this.plug(s.driver, s.props, false);
  }

  /** Plug one device; with hotplug, QEMU's bus rules apply first. */
  plug(driver: string, props: Readonly<Record<string, string>>, hotplug: boolean): InventoryEntry {
    const factory = Object.prototype.hasOwnProperty.call(VIRT_DEVICES, driver) ? VIRT_DEVICES[driver] : undefined;
    if (!factory) {
      if (hotplug) throw new DeviceHotplugError(`'${driver}' is not a valid device model name`);
      throw new DeviceSpecError(`-device ${driver}: unknown device '${driver}'`);
    }
    const id = props.id ?? null;
    if (id !== null) {
      if (!ID_RE.test(id)) throw new DeviceHotplugError(`Parameter 'id' expects an identifier`);
      if (this.find(id)) throw new DeviceHotplugError(`Duplicate device ID '${id}'`);
    }
    const isMmio = driver.endsWith('-device');
    const slots = this.machine.virtio;
    if (hotplug) {
      if (isMmio) {
        const free = [...slots].reverse().find((s) => !s.occupied);
        throw new DeviceHotplugError(`Bus 'virtio-mmio-bus.${free ? free.index : slots.length - 1}' does not support hotplugging`);
      }
      const busName = props.bus ?? 'pcie.0';
      if (busName === 'pcie.0') throw new DeviceHotplugError(`Bus 'pcie.0' does not support hotplugging`);
      if (!this.pciBuses().some((b) => b.name === busName)) throw new DeviceHotplugError(`Bus '${busName}' not found`);
      const m = props.addr === undefined ? null : /^(?:0x)?([0-9a-f]{1,2})/i.exec(props.addr);
      const slot = m ? parseInt(m[1]!, 16) : 0;
      if (!(slot >= 1 && slot <= 31)) {
        // QEMU 7.2 refuses the slot while realizing a virtio PCI proxy, after its virtio
        // backend child exists, so a DEVICE_DELETED for that child precedes the error.
        const backend = driver.startsWith('virtio-') && driver.endsWith('-pci') ? `/machine/peripheral${id !== null ? `/${id}` : '-anon/device[' + this.anon + ']'}/virtio-backend` : undefined;
        throw new DeviceHotplugError(`Unsupported PCI slot ${slot} for standard hotplug controller. Valid slots are between 1 and 31.`, 'GenericError', backend);
      }
    }
    const before = this.allPci();
    const occupied = slots.map((s) => s.occupied);
    // Factories reject unknown properties; id is the inventory's, except for bridges (their bus name).
    const plugProps: Record<string, string> = { ...props };
    if (driver !== 'pci-bridge') delete plugProps.id;
    try {
      factory.plug(this.ctx, plugProps);
    } catch (e) {
      if (hotplug && e instanceof DeviceSpecError) throw new DeviceHotplugError(e.message.replace(/^-device [^:]*: /, ''));
      throw e;
    }
    const added = [...this.allPci()].filter((d) => !before.has(d));
    const mmioSlot = slots.findIndex((s, i) => s.occupied && !occupied[i]);
    const bus = added.length ? (this.pciBuses().find((b) => b.bus.devices().includes(added[0]!))?.name ?? 'pcie.0') : mmioSlot >= 0 ? `virtio-mmio-bus.${mmioSlot}` : 'main-system-bus';
    const path = id !== null ? `/machine/peripheral/${id}` : `/machine/peripheral-anon/device[${this.anon++}]`;
    const e: InventoryEntry = { id, driver, props, bus, pci: added, mmioSlot: mmioSlot >= 0 ? mmioSlot : null, hotplugged: hotplug, path };
    this.entries.push(e);
    return e;
  }

  /**
   * device_del: remove a device from a bus that supports hot-unplug; resolves
   * with the entry once the removal completed (in-flight work drained).
   */
  unplug(id: string): Promise<InventoryEntry> {
    const e = this.find(id);
    if (!e) throw new DeviceHotplugError(`Device '${id}' not found`, 'DeviceNotFound');
    if (e.mmioSlot !== null) throw new DeviceHotplugError(`Bus 'virtio-mmio-bus.${e.mmioSlot}' does not support hotplugging`);
    if (e.bus === 'pcie.0' || e.pci.length === 0) throw new DeviceHotplugError(`Bus '${e.bus}' does not support hotplugging`);
    const owner = this.pciBuses().find((b) => b.name === e.bus);
    if (!owner) throw new DeviceHotplugError(`Device '${id}' not found`, 'DeviceNotFound');
    this.entries.splice(this.entries.indexOf(e), 1);
    const waits: Promise<void>[] = [];
    for (const d of e.pci) {
      const c = owner.bus.unplug(d);
      if (c) waits.push(c.wait());
    }
    return Promise.all(waits).then(() => e);
  }
}
