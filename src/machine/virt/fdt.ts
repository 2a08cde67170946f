/**
 * The device tree QEMU 7.2 generates for riscv64 `virt` (see
 * shared/reference/qemu-virt/virt.dts): same node paths, compatibles, reg
 * values, interrupt wiring and phandle numbering, and the same node and
 * property order as dtc prints QEMU's tree, so the two decompile alike.
 */
import { Fdt, type FdtNode } from '../fdt.js';
import {
  FLASH_BANK_SIZE,
  IOMMU_SYS_IRQ,
  PCIE_IRQ,
  PCI_NUM_PINS,
  PLIC_NUM_SOURCES,
  RTC_IRQ,
  TIMEBASE_HZ,
  UART0_IRQ,
  UART_CLOCK_HZ,
  VIRTIO_COUNT,
  VIRTIO_IRQ,
  VIRT_MEMMAP as M,
} from './memmap.js';

/** The ISA string the harts implement (kept in one place so `cpu list` tells the truth). */
export const DEFAULT_RISCV_ISA = 'rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc';

export interface VirtFdtOptions {
  ramSize: number;
  smp: number;
  isa?: string;
  mmuType?: 'riscv,sv39' | 'riscv,sv48' | 'riscv,sv57';
  /** Kernel command line (-append); omitted when empty. */
  bootargs?: string;
  /** 32 bytes for /chosen/rng-seed; omitted when absent. */
  rngSeed?: Uint8Array;
}

/** Phandles assigned while building, for callers that add nodes later (PCI, virtio). */
export interface VirtFdtHandles {
  plic: number;
  test: number;
  cpuIntc: number[];
}

const IRQ_M_SOFT = 3;
const IRQ_M_TIMER = 7;
const IRQ_S_EXT = 9;
const IRQ_M_EXT = 11;

function reg(node: FdtNode, ...pairs: number[]): void {
  node.setU64s('reg', ...pairs);
}

export function createVirtFdt(opts: VirtFdtOptions): { fdt: Fdt; handles: VirtFdtHandles } {
  const smp = opts.smp;
  const isa = opts.isa ?? DEFAULT_RISCV_ISA;
  const mmuType = opts.mmuType ?? 'riscv,sv48';
  const fdt = new Fdt();
  const root = fdt.root;

  // QEMU hands out phandles in creation order: CPUs from the highest hart
  // down (cpu, then its interrupt controller), then the PLIC, then the test device.
  const cpuPh: number[] = new Array<number>(smp);
  const intcPh: number[] = new Array<number>(smp);
  for (let c = smp - 1; c >= 0; c--) {
    cpuPh[c] = fdt.allocPhandle();
    intcPh[c] = fdt.allocPhandle();
  }
  const plicPh = fdt.allocPhandle();
  const testPh = fdt.allocPhandle();

  root.setU32('#address-cells', 2).setU32('#size-cells', 2).setString('compatible', 'riscv-virtio').setString('model', 'riscv-virtio,qemu');

  root
    .addNode('pmu')
    .setCells(
      'riscv,event-to-mhpmcounters',
      0x01, 0x01, 0x7fff9, 0x02, 0x02, 0x7fffc, 0x10019, 0x10019, 0x7fff8, 0x1001b, 0x1001b, 0x7fff8, 0x10021, 0x10021, 0x7fff8,
      0, 0, 0, 0, 0,
    )
    .setString('compatible', 'riscv,pmu');

  const fwcfg = root.addNode(`fw-cfg@${M.fwCfg.base.toString(16)}`).setEmpty('dma-coherent');
  reg(fwcfg, M.fwCfg.base, M.fwCfg.size);
  fwcfg.setString('compatible', 'qemu,fw-cfg-mmio');

  const flash = root.addNode(`flash@${M.flash.base.toString(16)}`).setU32('bank-width', 4);
  reg(flash, M.flash.base, FLASH_BANK_SIZE, M.flash.base + FLASH_BANK_SIZE, FLASH_BANK_SIZE);
  flash.setString('compatible', 'cfi-flash');

  const chosen = root.addNode('chosen');
  if (opts.rngSeed) chosen.setProp('rng-seed', opts.rngSeed.slice());
  if (opts.bootargs) chosen.setString('bootargs', opts.bootargs);
  chosen.setString('stdout-path', `/soc/serial@${M.uart0.base.toString(16)}`);

  root.addNode('poweroff').setU32('value', 0x5555).setU32('offset', 0).setU32('regmap', testPh).setString('compatible', 'syscon-poweroff');
  root.addNode('reboot').setU32('value', 0x7777).setU32('offset', 0).setU32('regmap', testPh).setString('compatible', 'syscon-reboot');

  root
    .addNode(`platform-bus@${M.platformBus.base.toString(16)}`)
    .setU32('interrupt-parent', plicPh)
    .setCells('ranges', 0, 0, M.platformBus.base, M.platformBus.size)
    .setU32('#address-cells', 1)
    .setU32('#size-cells', 1)
    .setStrings('compatible', 'qemu,platform', 'simple-bus');

  const mem = root.addNode(`memory@${M.dram.base.toString(16)}`).setString('device_type', 'memory');
  reg(mem, M.dram.base, opts.ramSize);

  const cpus = root.addNode('cpus').setU32('#address-cells', 1).setU32('#size-cells', 0).setU32('timebase-frequency', TIMEBASE_HZ);
  for (let c = 0; c < smp; c++) {
    const cpu = cpus
      .addNode(`cpu@${c.toString(16)}`)
      .setU32('phandle', cpuPh[c]!)
      .setString('device_type', 'cpu')
      .setU32('reg', c)
      .setString('status', 'okay')
      .setString('compatible', 'riscv')
      .setString('riscv,isa', isa)
      .setString('mmu-type', mmuType);
    cpu
      .addNode('interrupt-controller')
      .setU32('#interrupt-cells', 1)
      .setEmpty('interrupt-controller')
      .setString('compatible', 'riscv,cpu-intc')
      .setU32('phandle', intcPh[c]!);
  }
  const cluster = cpus.addNode('cpu-map').addNode('cluster0');
  for (let c = 0; c < smp; c++) cluster.addNode(`core${c}`).setU32('cpu', cpuPh[c]!);

  const soc = root.addNode('soc').setU32('#address-cells', 2).setU32('#size-cells', 2).setString('compatible', 'simple-bus').setEmpty('ranges');

  const rtc = soc.addNode(`rtc@${M.rtc.base.toString(16)}`).setU32('interrupts', RTC_IRQ).setU32('interrupt-parent', plicPh);
  reg(rtc, M.rtc.base, M.rtc.size);
  rtc.setString('compatible', 'google,goldfish-rtc');

  const serial = soc
    .addNode(`serial@${M.uart0.base.toString(16)}`)
    .setU32('interrupts', UART0_IRQ)
    .setU32('interrupt-parent', plicPh)
    .setU32('clock-frequency', UART_CLOCK_HZ);
  reg(serial, M.uart0.base, M.uart0.size);
  serial.setString('compatible', 'ns16550a');

  const test = soc.addNode(`test@${M.test.base.toString(16)}`).setU32('phandle', testPh);
  reg(test, M.test.base, M.test.size);
  test.setStrings('compatible', 'sifive,test1', 'sifive,test0', 'syscon');

  const imap: number[] = [];
  for (let slot = 0; slot < PCI_NUM_PINS; slot++) {
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) {
      // Child unit address (3 cells), pin, then PLIC phandle and its source: INTx swizzled by slot.
      imap.push(slot << 11, 0, 0, pin + 1, plicPh, PCIE_IRQ + ((slot + pin) % PCI_NUM_PINS));
    }
  }
  const pci = soc
    .addNode(`pci@${M.pcieEcam.base.toString(16)}`)
    .setCells('interrupt-map-mask', 0x1800, 0, 0, 0x7)
    .setCells('interrupt-map', ...imap)
    .setCells(
      'ranges',
      0x1000000, 0, 0, 0, M.pciePio.base, 0, M.pciePio.size,
      0x2000000, 0, M.pcieMmio.base, 0, M.pcieMmio.base, 0, M.pcieMmio.size,
      0x3000000, ...u64(M.pcieMmioHigh.base), ...u64(M.pcieMmioHigh.base), ...u64(M.pcieMmioHigh.size),
    );
  reg(pci, M.pcieEcam.base, M.pcieEcam.size);
  pci
    .setEmpty('dma-coherent')
    .setCells('bus-range', 0, M.pcieEcam.size / 0x100000 - 1)
    .setU32('linux,pci-domain', 0)
    .setString('device_type', 'pci')
    .setString('compatible', 'pci-host-ecam-generic')
    .setU32('#size-cells', 2)
    .setU32('#interrupt-cells', 1)
    .setU32('#address-cells', 3);

  for (let n = VIRTIO_COUNT - 1; n >= 0; n--) {
    const base = M.virtio.base + n * M.virtio.size;
    const v = soc.addNode(`virtio_mmio@${base.toString(16)}`).setU32('interrupts', VIRTIO_IRQ + n).setU32('interrupt-parent', plicPh);
    reg(v, base, M.virtio.size);
    v.setString('compatible', 'virtio,mmio');
  }

  const plicExt: number[] = [];
  const clintExt: number[] = [];
  for (let c = 0; c < smp; c++) {
    plicExt.push(intcPh[c]!, IRQ_M_EXT, intcPh[c]!, IRQ_S_EXT);
    clintExt.push(intcPh[c]!, IRQ_M_SOFT, intcPh[c]!, IRQ_M_TIMER);
  }
  const plic = soc.addNode(`plic@${M.plic.base.toString(16)}`).setU32('phandle', plicPh).setU32('riscv,ndev', PLIC_NUM_SOURCES);
  reg(plic, M.plic.base, M.plic.size);
  plic
    .setCells('interrupts-extended', ...plicExt)
    .setEmpty('interrupt-controller')
    .setStrings('compatible', 'sifive,plic-1.0.0', 'riscv,plic0')
    .setU32('#address-cells', 0)
    .setU32('#interrupt-cells', 1);

  const clint = soc.addNode(`clint@${M.clint.base.toString(16)}`).setCells('interrupts-extended', ...clintExt);
  reg(clint, M.clint.base, M.clint.size);
  clint.setStrings('compatible', 'sifive,clint0', 'riscv,clint0');

  return { fdt, handles: { plic: plicPh, test: testPh, cpuIntc: intcPh } };
}

function u64(v: number): [number, number] {
  return [Math.floor(v / 0x100000000), v >>> 0];
}

/** Set /chosen's initrd bounds (64-bit cells, as QEMU writes them). */
export function setChosenInitrd(fdt: Fdt, start: number, end: number): void {
  const chosen = fdt.root.ensureNode('chosen');
  chosen.setU64s('linux,initrd-start', start);
  chosen.setU64s('linux,initrd-end', end);
}

/** Set /chosen/bootargs (used when a -dtb was given with -append). */
export function setChosenBootargs(fdt: Fdt, bootargs: string): void {
  fdt.root.ensureNode('chosen').setString('bootargs', bootargs);
}

/**
 * The platform RISC-V IOMMU node and the PCIe host's iommu-map, as QEMU's virt
 * adds them with `iommu-sys=on`: /soc/iommu@3010000 ("riscv,iommu", four
 * wired interrupts from PLIC source 36), and every requester id of the host
 * bridge mapped 1:1 to the IOMMU's device_id.
 */
export function addIommuSys(fdt: Fdt, handles: VirtFdtHandles): number {
  const soc = fdt.find('/soc');
  const pci = fdt.find(`/soc/pci@${M.pcieEcam.base.toString(16)}`);
  if (!soc || !pci) throw new Error('virt device tree lacks /soc or its PCIe host');
  const ph = fdt.allocPhandle();
  const node = soc.addNode(`iommu@${M.iommuSys.base.toString(16)}`);
  node
    .setU32('phandle', ph)
    .setU32('interrupt-parent', handles.plic)
    .setCells('interrupts', IOMMU_SYS_IRQ, IOMMU_SYS_IRQ + 1, IOMMU_SYS_IRQ + 2, IOMMU_SYS_IRQ + 3);
  reg(node, M.iommuSys.base, M.iommuSys.size);
  node.setU32('#iommu-cells', 1).setString('compatible', 'riscv,iommu');
  pci.setCells('iommu-map', 0, ph, 0, 0xffff);
  return ph;
}
