/**
 * `tsvmm mtree [-f] [machine options]`: print a machine's memory regions the
 * way QEMU's monitor prints `info mtree` / `info mtree -f`.
 *
 * The machine comes from a builder (argv without -f -> the machine's address
 * spaces, in QEMU's order). The virt machine plugs its builder in through
 * `mtreeMain(argv, build)`; until then, with no machine options, a small demo
 * machine is printed.
 */
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { AddressSpace } from '../memory/address-space.js';
import { formatMtree } from '../memory/mtree-format.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../memory/region.js';
import { memoryTransaction } from '../memory/transaction.js';

export type MtreeBuilder = (argv: string[]) => Promise<AddressSpace[]>;

/** A small machine shaped like QEMU's virt (sizes reduced): every region kind `info mtree` shows. */
export async function buildDemoMachine(argv: string[]): Promise<AddressSpace[]> {
  if (argv.length) {
    throw new UsageError(
      argv[0] === '-machine' || argv[0] === '-M'
        ? 'machine options need the virt machine, which this build does not have yet; run `tsvmm mtree [-f]` for the demo machine'
        : `unknown option '${argv[0]}' (the demo machine takes no options)`,
    );
  }
  const noop = { read: () => 0, write: () => {} };
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const io = MemoryRegion.io('io', 0x10000, noop);
  const busMaster = MemoryRegion.container('bus master container', REGION_SIZE_MAX);
  memoryTransaction(() => {
    system.addSubregion(0x1000, MemoryRegion.rom('riscv_virt_board.mrom', 0xf000));
    system.addSubregion(0x100000, MemoryRegion.io('riscv.sifive.test', 0x1000, noop));
    system.addSubregion(0x10000000, MemoryRegion.io('serial', 8, noop));
    system.addSubregion(0x20000000, MemoryRegion.romDevice('virt.flash0', 0x100000, noop));
    const window = MemoryRegion.reservation('gpex_mmio_window', REGION_SIZE_MAX);
    system.addSubregion(0x40000000, MemoryRegion.alias('pcie-mmio', window, 0x40000000, 0x40000000));
    system.addSubregion(0x80000000, MemoryRegion.ram('riscv_virt_board.ram', 0x1000000));
    // Bus mastering off: the alias into system memory is disabled (as in QEMU's PCI core).
    const bm = MemoryRegion.alias('bus master', system, 0, REGION_SIZE_MAX);
    bm.setEnabled(false);
    busMaster.addSubregion(0, bm);
  });
  return [
    new AddressSpace(io, 'I/O'),
    new AddressSpace(busMaster, 'gpex-root'),
    new AddressSpace(system, 'memory'),
    new AddressSpace(system, 'cpu-memory-0'),
  ];
}

/**
 * Entry point. `build` turns the machine options into address spaces; the
 * virt machine passes its own (see src/machine). Returns the exit code.
 */
export async function mtreeMain(argv: string[], build: MtreeBuilder = buildDemoMachine, write: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let flat = false;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '-f') flat = true;
    else if (a === '-h' || a === '--help') {
      write('usage: tsvmm mtree [-f] [machine options, e.g. -machine virt -m 256M]\n');
      return 0;
    } else rest.push(a);
  }
  const spaces = await build(rest);
  try {
    write(formatMtree(spaces, { flat }));
  } finally {
    for (const as of spaces) as.destroy();
  }
  return 0;
}

export const command: Command = {
  name: 'mtree',
  summary: "print a machine's memory regions like QEMU's `info mtree [-f]`",
  run(argv) {
    // The virt machine (src/machine/virt/mtree.ts) takes the same options as `tsvmm run`.
    return mtreeMain(argv, async (a) => {
      const { buildVirtForMtree, MtreeOptionError } = await import('../machine/virt/mtree.js');
      try {
        return await buildVirtForMtree(a);
      } catch (e) {
        if (e instanceof MtreeOptionError) throw new UsageError(e.message, 1);
        throw e;
      }
    });
  },
};
