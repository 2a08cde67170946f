/**
 * The riscv64 `virt` board as QEMU 7.2 builds it: memory map, devices,
 * interrupt wiring, device tree, reset ROM and firmware loading.
 *
 * Wiring (QEMU's): the CLINT drives each hart's MSIP/MTIP; PLIC context 2N
 * drives hart N's MEIP and 2N+1 its SEIP; the UART is PLIC source 10, the RTC
 * 11, virtio-mmio slot n source n+1, PCIe INTA-D 32-35.
 *
 * All harts live in this realm and run interleaved in quanta on the machine's
 * EventLoop (see event-loop.ts); the harts-in-workers work parallelises them.
 *
 * Layout: this module builds and wires the board and runs it (reset, shutdown,
 * the run loop); its options are virt-options.ts, the harts and the RAM they
 * share their state with harts.ts, firmware and kernel loading boot.ts, the
 * memory map memmap.ts and the device tree fdt.ts.
 */
import type { HostServices } from '../../host/types.js';
import { defaultHost } from '../../host/default.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { AddressSpace } from '../../memory/address-space.js';
import { beginTransaction, commitTransaction } from '../../memory/transaction.js';
import { memorySyncEnv, setMemorySyncEnv } from '../../memory/lifetime.js';
import { createRealmSyncEnv, type SyncEnv } from '../../sync/env.js';
import type { Hart } from '../../cpu/riscv/hart.js';
import { Clint, type InterruptTarget } from '../../hw/intc/clint.js';
import { PORTABLE_ACLINT_SWI } from '../smp/shared-lines.js';
import { Plic } from '../../hw/intc/plic.js';
import { Serial } from '../../hw/char/serial.js';
import { NullBackend } from '../../hw/char/chardev-core.js';
import { SifiveTest, type ShutdownKind } from '../../hw/misc/sifive-test.js';
import { CfiFlash, FlashError } from '../../hw/block/cfi-flash.js';
import { GoldfishRtc, hostWallClockNs } from '../../hw/rtc/goldfish-rtc.js';
import { FwCfg, FW_CFG_NB_CPUS, FW_CFG_RAM_SIZE } from '../../hw/nvram/fw-cfg.js';
import { createGpexHost, type GpexHost } from '../../hw/pci/gpex.js';
import { EventLoop } from '../event-loop.js';
import type { BottomHalf } from '../../sync/work.js';
import { Fdt } from '../fdt.js';
import { LoaderError, type GuestWriter } from '../loader.js';
import { BootError, loadBootImages, type BootInfo, type BootSpec } from './boot.js';
import { addIommuSys, createVirtFdt, type VirtFdtHandles } from './fdt.js';
import { allocateRamWithHartStates, createHarts, runnableHart } from './harts.js';
import { RiscvIommu } from '../../hw/iommu/riscv-iommu.js';
import {
  FLASH_BANK_SIZE,
  IOMMU_SYS_IRQ,
  PCIE_IRQ,
  PCI_NUM_PINS,
  RTC_IRQ,
  PLIC_NUM_PRIORITIES,
  PLIC_NUM_SOURCES,
  UART0_IRQ,
  VIRTIO_COUNT,
  VIRTIO_IRQ,
  VIRT_MEMMAP as M,
} from './memmap.js';
import { PcieWindows } from './pcie-windows.js';
import { buildResetRom, RESET_VECTOR } from './reset-rom.js';
import { VirtioMmioSlot } from './virtio-mmio-slot.js';
import type { SmpCoordinator } from '../smp/coordinator.js';
import { MachineEvents, RunControl, type ShutdownCause } from '../run-control.js';
import type { VirtOptions } from './virt-options.js';

export { BootError, DEFAULT_FW_DYNAMIC, DEFAULT_FW_JUMP, DEFAULT_UBOOT, SMODE_UBOOT, type BootInfo, type BootSpec } from './boot.js';
export type { VirtOptions } from './virt-options.js';

/** Whether and why the run ended. */
export type ExitReason = { kind: ShutdownKind | 'quit' | 'error'; code: number };

export class VirtMachine implements GuestWriter {
  readonly system: MemoryRegion;
  readonly as: AddressSpace;
  readonly ram: MemoryRegion;
  readonly mrom: MemoryRegion;
  readonly loop: EventLoop;
  readonly harts: Hart[];
  readonly clint: Clint;
  readonly plic: Plic;
  readonly serial: Serial;
  readonly test: SifiveTest;
  readonly virtio: VirtioMmioSlot[] = [];
  readonly pcie: PcieWindows;
  readonly gpex: GpexHost;
  /** The platform IOMMU (-machine virt,iommu-sys=on), else null. */
  readonly iommu: RiscvIommu | null = null;
  readonly flash: CfiFlash[] = [];
  readonly rtc: GoldfishRtc;
  readonly fwCfg: FwCfg;
  readonly fdt: Fdt;
  readonly fdtHandles: VirtFdtHandles;
  readonly smp: number;
  readonly ramSize: number;
  exitReason: ExitReason | null = null;
  /**
   * Set by the gdbstub (src/gdbstub): a hart for which it returns true does
   * not run and counts as idle, so the loop sleeps while a debugger holds it.
   */
  debugGate: ((hartId: number) => boolean) | null = null;
  /** The realm's lock and lifetime env (the PCI domain and function locks, region and device lifetimes). */
  readonly syncEnv: SyncEnv;
  private readonly debugLocks: boolean;
  /** With threads: 'multi', the coordinator of the hart realms (the Hart objects above then stay idle). */
  readonly smpCoordinator: SmpCoordinator | null;
  /** Machine events for the monitors (STOP, RESUME, RESET, SHUTDOWN, POWERDOWN, ...). */
  readonly events = new MachineEvents();
  /** Run state, stop and cont (the monitors' `stop`/`cont`). */
  readonly runControl: RunControl;
  private readonly noShutdown: boolean;

  private readonly ramBytes: Uint8Array;
  private readonly noReboot: boolean;
  private readonly logItems: ReadonlySet<string>;
  private readonly logger: (line: string) => void;
  private onGuestStart: (() => void) | null;
  /** Blobs re-copied into memory on every reset (QEMU's ROM blobs). */
  private readonly blobs: { addr: number; bytes: Uint8Array }[] = [];
  private bootFdt: Fdt;
  private readonly resetBh: BottomHalf;
  readonly host: HostServices;

  constructor(opts: VirtOptions) {
    this.smp = opts.smp;
    this.ramSize = opts.ramSize;
    this.noReboot = opts.noReboot ?? false;
    this.noShutdown = opts.noShutdown ?? false;
    this.logItems = opts.log ?? new Set();
    this.host = opts.host ?? defaultHost;
    this.logger = opts.logger ?? this.host.log;
    this.onGuestStart = opts.onGuestStart ?? null;
    this.debugLocks = opts.debugLocks ?? false;
    if (this.debugLocks) {
      // Installed before any region or device is built, so their lifetimes report here too.
      this.syncEnv = createRealmSyncEnv({ debugLocks: true, log: this.logger });
      setMemorySyncEnv(this.syncEnv);
    } else {
      this.syncEnv = memorySyncEnv();
    }
    const clock = opts.clock ?? { kind: 'realtime' };
    this.loop = new EventLoop({ clock, quantum: opts.quantum, sliceMs: opts.sliceMs });

    this.system = MemoryRegion.container('system', REGION_SIZE_MAX);
    // Guest RAM and the harts' state areas share one WebAssembly memory, so translated code
    // reaches both directly (src/memory/guest-ram.ts).
    const ramWithStates = allocateRamWithHartStates(opts);
    this.ram = MemoryRegion.ram('riscv_virt_board.ram', opts.ramSize, { buffer: ramWithStates.backing.buffer });
    this.ramBytes = this.ram.ramBytes();
    this.mrom = MemoryRegion.rom('riscv_virt_board.mrom', M.mrom.size);

    // Harts first (the CLINT and PLIC drive their mip lines); their clock is the CLINT's mtime.
    let clintRef: Clint | null = null;
    const timeSource = (): number => (clintRef ? clintRef.mtime() : 0);
    this.as = new AddressSpace(this.system, 'memory', { log: (m) => this.guestError(m) });
    const cpus = createHarts({ opts, clock, host: this.host, as: this.as, ram: ramWithStates, timeSource, log: this.logger, env: this.syncEnv });
    this.harts = cpus.harts;
    this.smpCoordinator = cpus.smpCoordinator;
    // An interrupt line change may end an idle wait of the loop (hart realms: wakes the hart).
    const targets: InterruptTarget[] = this.smpCoordinator
      ? [...this.smpCoordinator.lines]
      : this.harts.map((h) => ({
          setInterruptLevel: (bit: number, level: boolean) => {
            h.setInterruptLevel(bit, level);
            this.loop.kick();
          },
        }));
    // With hart realms the SWI's MSIP bits are the harts' shared lines, which the harts
    // access themselves (an IPI costs no round trip to this realm: smp/shared-lines.ts).
    this.clint = new Clint(targets, this.loop, { msip: this.smpCoordinator?.msip });
    this.smpCoordinator?.setPortable(this.clint.swi, PORTABLE_ACLINT_SWI);
    clintRef = this.clint;
    this.plic = new Plic(targets, { numSources: PLIC_NUM_SOURCES, numPriorities: PLIC_NUM_PRIORITIES });
    if (this.smpCoordinator) this.smpCoordinator.attachClock(() => this.loop.clock.now(), (ns) => this.clint.mtimeAt(ns));
    else {
      for (const h of this.harts) {
        const held = (): boolean => this.debugGate !== null && this.debugGate(h.hartId);
        this.loop.addHart(runnableHart(h, this.loop, () => this.clint, held));
      }
    }

    this.runControl = new RunControl(this.loop, this.smpCoordinator, this.events, opts.startPaused ?? false);
    this.serial = new Serial(this.plic.input(UART0_IRQ), opts.serial ?? new NullBackend(), { hostIo: () => this.loop.hostIoWanted() });
    // Hart realms print the console without a round trip to this realm (smp/posted-serial.ts).
    this.smpCoordinator?.postSerial(this.serial);
    this.test = new SifiveTest((kind, code) => this.shutdown(kind, code));
    this.resetBh = this.loop.newBottomHalf(() => {
      if (this.smpCoordinator) void this.resetThreaded(this.smpCoordinator);
      else this.reset();
    });

    this.rtc = new GoldfishRtc(
      this.plic.input(RTC_IRQ),
      this.loop,
      clock.kind === 'virtual' ? () => this.loop.clock.now() : hostWallClockNs,
    );
    this.fwCfg = new FwCfg(this.as, { scheduler: this.loop });
    this.fwCfg.addI16(FW_CFG_NB_CPUS, opts.smp);
    this.fwCfg.addI64(FW_CFG_RAM_SIZE, opts.ramSize);
    for (let unit = 0; unit < 2; unit++) {
      const backing = opts.pflash?.[unit];
      try {
        this.flash.push(new CfiFlash({ name: `virt.flash${unit}`, backingFile: backing?.file, readOnly: backing?.readOnly, host: this.host }));
      } catch (e) {
        if (e instanceof FlashError) throw new BootError(e.message);
        throw e;
      }
    }

    // One transaction for the whole map (the views are rendered once, at its end, not once per
    // region added: ~10 ms of every start). Begun and committed here rather than through
    // memoryTransaction(): the constructor assigns readonly fields (pcie, gpex) inside it.
    beginTransaction();
    try {
      const s = this.system;
      s.addSubregion(M.mrom.base, this.mrom);
      s.addSubregion(M.test.base, this.test.mr);
      s.addSubregion(M.rtc.base, this.rtc.mr);
      this.clint.mapInto(s, M.clint.base);
      s.addSubregion(M.plic.base, this.plic.mr);
      s.addSubregion(M.uart0.base, this.serial.mr);
      for (let n = 0; n < VIRTIO_COUNT; n++) {
        this.virtio.push(new VirtioMmioSlot(n, M.virtio.base + n * M.virtio.size, VIRTIO_IRQ + n, s));
      }
      this.fwCfg.mapInto(s, M.fwCfg.base);
      s.addSubregion(M.flash.base, this.flash[0]!.mr);
      s.addSubregion(M.flash.base + FLASH_BANK_SIZE, this.flash[1]!.mr);
      s.addSubregion(M.dram.base, this.ram);
      this.pcie = new PcieWindows(this.system);
      const intx = [];
      for (let i = 0; i < PCI_NUM_PINS; i++) intx.push(this.plic.input(PCIE_IRQ + i));
      if (opts.iommuSys) {
        const irqs = [0, 1, 2, 3].map((v) => this.plic.input(IOMMU_SYS_IRQ + v));
        const iommu = new RiscvIommu({ sysAs: this.as, irqs, scheduler: this.loop, log: this.logger });
        this.iommu = iommu;
        this.system.addSubregion(M.iommuSys.base, iommu.regs);
      }
      const iommu = this.iommu;
      this.gpex = createGpexHost({
        dmaRoot: this.system,
        dmaRootFor: iommu ? (rid) => iommu.dmaRootFor(rid) : undefined,
        memory: this.pcie.mmio,
        io: this.pcie.ioport,
        irqs: intx,
        syncEnv: this.syncEnv,
      });
      this.pcie.mapEcam(this.gpex.ecam);
    } finally {
      commitTransaction();
    }

    const rngSeed = opts.rngSeed ?? (clock.kind === 'virtual' ? new Uint8Array(32) : this.host.randomFill(new Uint8Array(32)));
    const built = createVirtFdt({ ramSize: opts.ramSize, smp: opts.smp, isa: opts.isa, mmuType: 'riscv,sv48', rngSeed });
    this.fdt = built.fdt;
    this.fdtHandles = built.handles;
    if (this.iommu) addIommuSys(this.fdt, this.fdtHandles);
    this.bootFdt = this.fdt;
  }

  private guestError(message: string): void {
    if (this.logItems.has('guest_errors')) this.logger(message);
  }

  // ---- GuestWriter (firmware loading) ----

  writeRam(addr: number, data: Uint8Array): boolean {
    const off = addr - M.dram.base;
    if (off < 0 || off + data.length > this.ramSize) return false;
    this.ramBytes.set(data, off);
    this.blobs.push({ addr, bytes: data.slice() });
    return true;
  }

  zeroRam(addr: number, len: number): boolean {
    const off = addr - M.dram.base;
    if (off < 0 || off + len > this.ramSize) return false;
    this.ramBytes.fill(0, off, off + len);
    return true;
  }

  /**
   * Load firmware, kernel, initrd and device tree as QEMU's virt does
   * (boot.ts), and write the reset ROM. Throws BootError (one line) when anything is missing
   * or corrupt.
   */
  boot(spec: BootSpec): BootInfo {
    try {
      const { info, fdt } = loadBootImages(this, spec);
      this.bootFdt = fdt;
      const rom = buildResetRom({ startAddr: info.startAddr, fdtAddr: info.fdtAddr, nextAddr: info.kernelEntry ?? 0 });
      this.mrom.ramBytes().set(rom, 0);
      for (const h of this.harts) h.reset(RESET_VECTOR);
      return info;
    } catch (e) {
      if (e instanceof LoaderError) throw new BootError(e.message);
      throw e;
    }
  }

  /** The device tree handed to the guest (after -dtb/-append/-initrd edits). */
  get deviceTree(): Fdt {
    return this.bootFdt;
  }

  private shutdown(kind: ShutdownKind, code: number): void {
    if (kind === 'reset' && !this.noReboot) {
      this.events.emit({ event: 'RESET', data: { guest: true, reason: 'guest-reset' } });
      // Not from inside the hart's instruction: stop it and reset from the loop.
      this.harts.forEach((h) => h.requestStop());
      this.resetBh.schedule();
      return;
    }
    this.events.emit({ event: 'SHUTDOWN', data: { guest: true, reason: kind === 'reset' ? 'guest-reset' : 'guest-shutdown' } });
    if (this.noShutdown) {
      // -no-shutdown: the machine stops and the monitors stay up (QEMU's run state 'shutdown').
      this.harts.forEach((h) => h.requestStop());
      void this.runControl.stop('shutdown');
      return;
    }
    this.exitReason = { kind, code };
    this.loop.requestExit(code);
  }

  /** A system reset from the monitor (QEMU's system_reset): a stopped machine stays stopped. */
  requestReset(reason: ShutdownCause = 'host-qmp-system-reset'): void {
    this.events.emit({ event: 'RESET', data: { guest: false, reason } });
    this.runControl.noteReset();
    this.harts.forEach((h) => h.requestStop());
    this.resetBh.schedule();
  }

  /**
   * system_powerdown: QEMU's riscv virt board has no power button (no ACPI,
   * no gpio-keys), so the request is announced (POWERDOWN) and the guest
   * sees nothing.
   */
  powerdown(): void {
    this.events.emit({ event: 'POWERDOWN' });
  }

  /** System reset (QEMU's qemu_system_reset): devices, ROM blobs, harts at the reset vector. */
  reset(): void {
    // RAM keeps its contents across a reset (as in QEMU); ROM blobs are copied again.
    for (const b of this.blobs) this.ramBytes.set(b.bytes, b.addr - M.dram.base);
    this.clint.reset();
    this.plic.reset();
    this.serial.reset();
    this.test.reset();
    this.rtc.reset();
    this.fwCfg.reset();
    for (const f of this.flash) f.reset();
    this.gpex.reset();
    this.iommu?.reset();
    for (const h of this.harts) h.reset(RESET_VECTOR);
  }

  /**
   * A system reset with hart realms: pause every hart at its next quantum
   * boundary (requests keep being served meanwhile), reset devices and blobs,
   * then restart the harts at the reset vector.
   */
  private async resetThreaded(smp: SmpCoordinator): Promise<void> {
    try {
      await smp.pauseAll();
    } catch (e) {
      this.loop.onError(e);
      return;
    }
    this.reset();
    // A stopped machine stays stopped: its harts restart at the reset vector on `cont`.
    if (this.runControl.running) smp.resetHarts(RESET_VECTOR);
    else this.runControl.pendingHartReset = RESET_VECTOR;
  }

  /** End the run from outside (Ctrl-A x, a signal, the monitor's quit; `cause` announces SHUTDOWN). */
  quit(code = 0, cause?: ShutdownCause): void {
    if (cause && !this.exitReason && !this.loop.isStopped) this.events.emit({ event: 'SHUTDOWN', data: { guest: false, reason: cause } });
    if (!this.exitReason) this.exitReason = { kind: 'quit', code };
    this.loop.requestExit(code);
  }

  /** Run until poweroff/fail/quit; resolves with the exit code. */
  run(): Promise<number> {
    this.loop.onError = (e) => {
      this.exitReason = { kind: 'error', code: 1 };
      this.logger(`tsvmm: ${(e as Error).message ?? String(e)}`);
      this.loop.requestExit(1);
    };
    const smp = this.smpCoordinator;
    if (smp === null) this.guestStarting();
    return (smp ? this.runThreaded(smp) : this.loop.run()).then((code) => {
      for (const f of this.flash) f.close();
      this.reportGuestErrors();
      if (this.debugLocks) {
        const v = this.syncEnv.validator;
        this.logger(`tsvmm: --debug-locks: ${v.edgeCount} lock dependencies recorded, ${v.reports.length} reports`);
      }
      return code;
    });
  }

  /** The run with hart realms: the main realm serves their requests, timers and bottom halves. */
  private async runThreaded(smp: SmpCoordinator): Promise<number> {
    smp.onFatal = (m) => {
      this.exitReason = { kind: 'error', code: 1 };
      this.logger(`tsvmm: ${m}`);
      this.loop.requestExit(1);
    };
    this.loop.kickHook = () => smp.wake();
    try {
      await smp.start(RESET_VECTOR, { paused: this.runControl.startParked });
      this.guestStarting();
      await smp.drive(this.loop);
    } catch (e) {
      this.loop.onError(e);
    } finally {
      this.loop.kickHook = null;
      await smp.stop();
    }
    return this.loop.exitStatus;
  }

  private guestStarting(): void {
    const f = this.onGuestStart;
    this.onGuestStart = null;
    f?.();
  }

  /**
   * -d guest_errors / unimp: the memory core counts accesses to unassigned
   * space and writes to ROM without logging each (they are on the hot path);
   * the machine reports the totals when the run ends.
   */
  private reportGuestErrors(): void {
    if (!this.logItems.has('guest_errors') && !this.logItems.has('unimp')) return;
    const rom = this.mrom.ignoredWrites;
    this.logger(`tsvmm: guest accesses to unassigned addresses: ${this.as.unassignedAccesses + (this.smpCoordinator?.unassignedAccesses() ?? 0)}; writes to ROM ignored: ${rom}`);
  }
}
