/**
 * What the monitors (QMP and the human monitor) see of a running virt
 * machine: run state, harts, memory, the memory tree, PCI, devices, drives
 * and chardevs, each as data (QMP's shapes) and as QEMU's text.
 * Every failure is a MonitorError with a QMP error class.
 */
import { statSync } from 'node:fs';
import { AddressSpace } from '../memory/address-space.js';
import { MemoryRegion } from '../memory/region.js';
import { formatMtree } from '../memory/mtree-format.js';
import { MEMTX_OK } from '../memory/types.js';
import type { VirtMachine } from '../machine/virt/virt.js';
import { DeviceHotplugError, type DeviceInventory } from '../machine/virt/device-inventory.js';
import { DeviceSpecError } from '../machine/virt/devices.js';
import type { ChardevRegistry } from '../hw/char/chardev-registry.js';
import { captureHartState, type HartState } from '../machine/hart-state.js';
import { RunStateError, type ShutdownCause } from '../machine/run-control.js';
import { PciBridge } from '../hw/pci/bridge.js';
import type { PciDevice } from '../hw/pci/device.js';
import {
  PCI_CLASS_DEVICE,
  PCI_DEVICE_ID,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
} from '../hw/pci/constants.js';
import { translateDebug } from './page-walk.js';

/** tsvmm's own version; QMP reports the QEMU release it follows (7.2) with this as the package. */
export const TSVMM_VERSION = '0.1.0';
export const QEMU_COMPAT = { major: 7, minor: 2, micro: 0 } as const;

export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotFound' | 'DeviceNotActive' | 'KVMMissingCap';

export class MonitorError extends Error {
  constructor(
    readonly errorClass: QmpErrorClass,
    message: string,
  ) {
    super(message);
    this.name = 'MonitorError';
  }
}

export interface MonitorAccessDeps {
  machine: VirtMachine;
  chardevs: ChardevRegistry;
  inventory: DeviceInventory;
  name?: string;
}

const ioIgnore = { read: () => 0, write: () => {} };

export class MonitorAccess {
  readonly machine: VirtMachine;
  readonly chardevs: ChardevRegistry;
  readonly inventory: DeviceInventory;
  readonly name: string | undefined;

  constructor(d: MonitorAccessDeps) {
    this.machine = d.machine;
    this.chardevs = d.chardevs;
    this.inventory = d.inventory;
    this.name = d.name;
  }

  get version(): { qemu: { major: number; minor: number; micro: number }; package: string } {
    return { qemu: { ...QEMU_COMPAT }, package: `tsvmm ${TSVMM_VERSION}` };
  }

  // ---- run state ----

  status(): { status: string; singlestep: boolean; running: boolean } {
    const st = this.machine.runControl.state;
    return { status: st, singlestep: false, running: st === 'running' };
  }

  statusText(): string {
    const st = this.machine.runControl.state;
    if (st === 'running') return 'VM status: running';
    if (st === 'paused') return 'VM status: paused';
    return `VM status: paused (${st})`;
  }

  stop(): Promise<void> {
    return this.machine.runControl.stop();
  }

  async cont(): Promise<void> {
    try {
      await this.machine.runControl.cont();
    } catch (e) {
      if (e instanceof RunStateError) throw new MonitorError('GenericError', e.message);
      throw e;
    }
  }

  systemReset(): void {
    this.machine.requestReset('host-qmp-system-reset');
  }

  powerdown(): void {
    this.machine.powerdown();
  }

  quit(cause: ShutdownCause = 'host-qmp-quit'): void {
    this.machine.quit(0, cause);
  }

  // ---- harts ----

  /**
   * Each hart's registers. Interleaved harts are read directly (a monitor
   * command runs between quanta); hart realms report theirs when parked, so
   * a running machine is parked for the read and let go at once (no STOP).
   */
  async hartStates(): Promise<HartState[]> {
    const smp = this.machine.smpCoordinator;
    if (!smp) return this.machine.harts.map(captureHartState);
    if (this.machine.runControl.running) {
      await smp.pauseAll();
      try {
        return await smp.pausedStates();
      } finally {
        if (this.machine.runControl.running) smp.resumeAll();
      }
    }
    return smp.pausedStates();
  }

  cpusFast(): { 'cpu-index': number; 'qom-path': string; 'thread-id': number; props: { 'core-id': number }; target: string }[] {
    const out = [];
    for (let i = 0; i < this.machine.smp; i++) {
      out.push({ 'thread-id': process.pid, props: { 'core-id': i }, 'qom-path': `/machine/soc0/harts[${i}]`, 'cpu-index': i, target: 'riscv64' });
    }
    return out;
  }

  cpusText(current = 0): string {
    return this.cpusFast()
      .map((c) => `${c['cpu-index'] === current ? '*' : ' '} CPU #${c['cpu-index']}: thread_id=${c['thread-id']}`)
      .join('\n');
  }

  // ---- memory ----

  /** Physical read through the system address space (devices included, as QEMU's xp); null where nothing answers. */
  readPhys(addr: bigint, len: number): Uint8Array | null {
    if (addr < 0n || addr + BigInt(len) > 1n << 56n) return null;
    const buf = new Uint8Array(len);
    return this.machine.as.read(Number(addr), buf) === MEMTX_OK ? buf : null;
  }

  /** Virtual read through hart `cpu`'s translation (QEMU's x); null if unmapped. Page by page. */
  async readVirt(cpu: number, addr: bigint, len: number): Promise<Uint8Array | null> {
    const states = await this.hartStates();
    const st = states[cpu];
    if (!st) throw new MonitorError('GenericError', `CPU ${cpu} not found`);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const va = BigInt.asUintN(64, addr + BigInt(done));
      const pa = translateDebug(st, va, (p) => {
        const b = this.readPhys(p, 8);
        return b ? new DataView(b.buffer).getBigUint64(0, true) : null;
      });
      if (pa === null) return null;
      const n = Math.min(len - done, 4096 - Number(va & 0xfffn));
      const b = this.readPhys(pa, n);
      if (!b) return null;
      out.set(b, done);
      done += n;
    }
    return out;
  }

  mtreeText(flat: boolean): string {
    const m = this.machine;
    const temp = [new AddressSpace(MemoryRegion.io('io', 0x10000, ioIgnore), 'I/O')];
    for (let i = 0; i < m.smp; i++) temp.push(new AddressSpace(m.system, `cpu-memory-${i}`));
    try {
      return formatMtree([temp[0]!, m.as, ...temp.slice(1)], { flat });
    } finally {
      for (const as of temp) as.destroy();
    }
  }

  // ---- PCI ----

  private qdevId(d: PciDevice): string {
    const e = this.inventory.list().find((x) => x.pci.includes(d));
    if (e?.id) return e.id;
    if (d instanceof PciBridge) return d.name;
    return '';
  }

  queryPci(): unknown[] {
    const out: unknown[] = [];
    for (const b of this.inventory.pciBuses()) {
      if (b.bridge) continue;
      out.push({ bus: b.bus.number, devices: this.pciDevices(b.bus.devices()) });
    }
    return out;
  }

  /** Config space as the guest reads it (the bus's config path, so composite registers read right). */
  private cfg(d: PciDevice): (off: number, size: number) => number {
    const bus = this.inventory.pciBuses().find((b) => b.bus.devices().includes(d))?.bus;
    return (off, size) => (bus ? bus.configRead(d.devfn, off, size) : 0xffffffff) >>> 0;
  }

  private pciDevices(devs: PciDevice[]): unknown[] {
    return devs
      .filter((d) => !d.removed)
      .map((d) => {
        const c = this.cfg(d);
        const pin = c(PCI_INTERRUPT_PIN, 1);
        const cls = c(PCI_CLASS_DEVICE, 2);
        const o: Record<string, unknown> = {
          bus: d.bus?.number ?? 0,
          slot: d.devfn >> 3,
          function: d.devfn & 7,
          class_info: classInfo(cls),
          id: { device: c(PCI_DEVICE_ID, 2), vendor: c(PCI_VENDOR_ID, 2), subsystem: c(PCI_SUBSYSTEM_ID, 2), 'subsystem-vendor': c(PCI_SUBSYSTEM_VENDOR_ID, 2) },
          irq_pin: pin,
          qdev_id: this.qdevId(d),
          regions: this.regions(d),
        };
        if (pin) o.irq = c(PCI_INTERRUPT_LINE, 1);
        if (d instanceof PciBridge) {
          const sec = d.secondary;
          o.pci_bridge = {
            bus: {
              number: d.bus?.number ?? 0,
              secondary: d.secondaryBusNumber,
              subordinate: d.subordinateBusNumber,
              io_range: { base: 0, limit: 0xfff },
              memory_range: { base: 0, limit: 0xfffff },
              prefetchable_range: { base: 0, limit: 0xfffff },
            },
            ...(sec && sec.devices().length ? { devices: this.pciDevices(sec.devices()) } : {}),
          };
        }
        return o;
      });
  }

  private regions(d: PciDevice): unknown[] {
    const out: unknown[] = [];
    for (let slot = 0; slot < 6; slot++) {
      const bar = d.bars[slot];
      if (!bar) continue;
      const addr = d.decodeBar(slot);
      const address = addr < 0 || !Number.isFinite(addr) ? -1 : addr;
      if (bar.kind === 'io') out.push({ bar: slot, type: 'io', address, size: bar.size });
      else out.push({ bar: slot, type: 'memory', address, size: bar.size, prefetch: bar.prefetchable, mem_type_64: bar.kind === 'mem64' });
    }
    return out;
  }

  pciText(): string {
    const lines: string[] = [];
    for (const b of this.inventory.pciBuses()) {
      for (const d of b.bus.devices()) {
        if (d.removed) continue;
        const c = this.cfg(d);
        const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
        lines.push(`  Bus ${String(b.bus.number).padStart(2)}, device ${String(d.devfn >> 3).padStart(3)}, function ${d.devfn & 7}:`);
        const cls = c(PCI_CLASS_DEVICE, 2);
        lines.push(`    ${classInfo(cls).desc ?? `Class ${hex4(cls)}`}: PCI device ${hex4(c(PCI_VENDOR_ID, 2))}:${hex4(c(PCI_DEVICE_ID, 2))}`);
        lines.push(`      PCI subsystem ${hex4(c(PCI_SUBSYSTEM_VENDOR_ID, 2))}:${hex4(c(PCI_SUBSYSTEM_ID, 2))}`);
        const pin = c(PCI_INTERRUPT_PIN, 1);
        if (pin) lines.push(`      IRQ ${c(PCI_INTERRUPT_LINE, 1)}, pin ${String.fromCharCode(64 + pin)}`);
        for (const r of this.regions(d) as { bar: number; type: string; address: number; size: number; mem_type_64?: boolean }[]) {
          const at = r.address < 0 ? '0xffffffffffffffff' : `0x${r.address.toString(16)}`;
          lines.push(`      BAR${r.bar}: ${r.type === 'io' ? 'I/O' : r.mem_type_64 ? '64 bit memory' : '32 bit memory'} at ${at} [0x${(r.size - 1).toString(16).padStart(8, '0')}].`);
        }
        lines.push(`      id "${this.qdevId(d)}"`);
      }
    }
    return lines.join('\n');
  }

  // ---- qtree ----

  qtreeText(): string {
    const m = this.machine;
    const L: string[] = ['bus: main-system-bus', '  type System'];
    const dev = (indent: string, name: string, id: string, mmio: [number, number][]): void => {
      L.push(`${indent}dev: ${name}, id "${id}"`);
      for (const [base, size] of mmio) L.push(`${indent}  mmio ${hex16(base)}/${hex16(size)}`);
    };
    dev('  ', 'riscv.sifive.test', '', [[0x100000, 0x1000]]);
    dev('  ', 'goldfish_rtc', '', [[0x101000, 0x1000]]);
    dev('  ', 'riscv.aclint.swi', '', [[0x2000000, 0x4000]]);
    dev('  ', 'riscv.aclint.mtimer', '', [[0x2004000, 0x8000]]);
    dev('  ', 'riscv.sifive.plic', '', [[0xc000000, 0x600000]]);
    dev('  ', 'serial-mm', '', [[0x10000000, 8]]);
    dev('  ', 'fw_cfg_mem', '', [[0x10100000, 0x18]]);
    dev('  ', 'cfi.pflash01', '', [[0x20000000, 0x2000000]]);
    dev('  ', 'cfi.pflash01', '', [[0x22000000, 0x2000000]]);
    for (const s of m.virtio) {
      dev('  ', 'virtio-mmio', '', [[s.base, 0x200]]);
      L.push(`    bus: virtio-mmio-bus.${s.index}`, '      type virtio-mmio-bus');
      const e = this.inventory.list().find((x) => x.mmioSlot === s.index);
      if (e) L.push(`      dev: ${e.driver}, id "${e.id ?? ''}"`);
    }
    dev('  ', 'gpex-pcihost', '', [[0x30000000, 0x10000000]]);
    const walk = (busName: string, indent: string): void => {
      const b = this.inventory.pciBuses().find((x) => x.name === busName);
      if (!b) return;
      L.push(`${indent}bus: ${busName}`, `${indent}  type PCIE`);
      for (const d of b.bus.devices()) {
        if (d.removed) continue;
        const e = this.inventory.list().find((x) => x.pci.includes(d));
        const name = e?.driver ?? (d instanceof PciBridge ? 'pci-bridge' : d.name);
        L.push(`${indent}  dev: ${name}, id "${this.qdevId(d)}"`);
        L.push(`${indent}    addr = ${(d.devfn >> 3).toString(16).padStart(2, '0')}.${d.devfn & 7}`);
        if (d instanceof PciBridge && d.secondary) walk(d.name, indent + '    ');
      }
    };
    walk('pcie.0', '    ');
    return L.join('\n');
  }

  // ---- block ----

  queryBlock(): unknown[] {
    const out: unknown[] = [];
    const entries = this.inventory.list();
    const shortcutDevs = entries.filter((e) => e.driver === 'virtio-blk-pci' && e.props.drive === undefined);
    let nextShortcut = 0;
    for (const [id, d] of this.inventory.drives) {
      if (d.if === 'pflash') continue;
      const user = d.if === 'virtio' ? shortcutDevs[nextShortcut++] : entries.find((e) => e.props.drive === id);
      let size = 0;
      let actual = 0;
      try {
        const st = statSync(d.file ?? '');
        size = st.size;
        actual = st.blocks * 512;
      } catch {
        /* reported as size 0 */
      }
      const file = d.file ?? '';
      const ro = d.readonly === 'on';
      const row: Record<string, unknown> = {
        device: id,
        locked: false,
        removable: false,
        type: 'unknown',
        'io-status': 'ok',
        inserted: {
          file,
          'node-name': `#block-${id}`,
          ro,
          drv: d.format ?? 'raw',
          encrypted: false,
          backing_file_depth: 0,
          bps: 0,
          bps_rd: 0,
          bps_wr: 0,
          iops: 0,
          iops_rd: 0,
          iops_wr: 0,
          detect_zeroes: 'off',
          write_threshold: 0,
          cache: { writeback: true, direct: false, 'no-flush': false },
          image: { filename: file, format: d.format ?? 'raw', 'virtual-size': size, 'actual-size': actual, 'dirty-flag': false },
        },
      };
      if (user) row.qdev = user.path;
      out.push(row);
    }
    return out;
  }

  blockText(): string {
    const rows = this.queryBlock() as { device: string; qdev?: string; inserted: { file: string; drv: string; 'node-name': string; ro: boolean } }[];
    if (rows.length === 0) return '';
    return rows
      .map((r) => {
        const l = [`${r.device} (${r.inserted['node-name']}): ${r.inserted.file} (${r.inserted.drv}${r.inserted.ro ? ', read-only' : ''})`];
        if (r.qdev) l.push(`    Attached to:      ${r.qdev}`);
        l.push('    Cache mode:       writeback');
        return l.join('\n');
      })
      .join('\n\n');
  }

  // ---- chardevs ----

  queryChardev(): { label: string; filename: string; 'frontend-open': boolean }[] {
    return this.chardevs.query();
  }

  chardevText(): string {
    return this.queryChardev()
      .map((c) => `${c.label}: filename=${c.filename}`)
      .join('\n');
  }

  // ---- devices ----

  deviceAdd(args: Record<string, unknown>): void {
    const driver = args.driver;
    if (typeof driver !== 'string') throw new MonitorError('GenericError', "Parameter 'driver' is missing");
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(args)) {
      if (k === 'driver') continue;
      if (typeof v === 'string') props[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') props[k] = typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
      else throw new MonitorError('GenericError', `Parameter '${k}' expects a scalar value`);
    }
    try {
      this.inventory.plug(driver, props, true);
    } catch (e) {
      if (e instanceof DeviceHotplugError) {
        if (e.deletedPath) this.machine.events.emit({ event: 'DEVICE_DELETED', data: { path: e.deletedPath } });
        throw new MonitorError(e.errorClass, e.message);
      }
      if (e instanceof DeviceSpecError) throw new MonitorError('GenericError', e.message);
      throw e;
    }
  }

  /** Starts the removal; DEVICE_DELETED follows once it completes. */
  deviceDel(id: string): void {
    let done: Promise<{ id: string | null; path: string }>;
    try {
      done = this.inventory.unplug(id);
    } catch (e) {
      if (e instanceof DeviceHotplugError) throw new MonitorError(e.errorClass, e.message);
      throw e;
    }
    void done.then(
      (e) => this.machine.events.emit({ event: 'DEVICE_DELETED', data: { device: e.id ?? undefined, path: e.path } }),
      () => {},
    );
  }
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

const CLASS_NAMES: Record<number, string> = {
  0x0100: 'SCSI controller',
  0x0106: 'SATA controller',
  0x0200: 'Ethernet controller',
  0x0300: 'VGA controller',
  0x0600: 'Host bridge',
  0x0604: 'PCI bridge',
  0x0780: 'Communication controller',
  0x00ff: 'Class 00ff',
};

function classInfo(cls: number): { class: number; desc?: string } {
  const desc = CLASS_NAMES[cls];
  return desc && cls !== 0x00ff && cls !== 0x0100 ? { class: cls, desc } : { class: cls };
}
