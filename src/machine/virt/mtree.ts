/**
 * The virt machine for `tsvmm mtree`: builds the board from the same options
 * `tsvmm run` takes (without loading firmware or running anything) and
 * returns its address spaces in the order QEMU's `info mtree` prints them.
 */
import { UsageError } from '../../cli/command.js';
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { OptionError, parseRunArgs } from '../options.js';
import { VirtMachine } from './virt.js';

/** A bad machine option: printed by the CLI as one line, exit 1. */
export class MtreeOptionError extends UsageError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'MtreeOptionError';
  }
}

const ignoreIo = { read: () => 0, write: () => {} };

export async function buildVirtForMtree(argv: string[]): Promise<AddressSpace[]> {
  let cfg;
  try {
    cfg = parseRunArgs(argv);
  } catch (e) {
    if (e instanceof OptionError) throw new MtreeOptionError(e.message);
    throw e;
  }
  const m = new VirtMachine({ ramSize: cfg.ramSize, smp: cfg.smp, clock: { kind: 'virtual', nsPerInsn: 1 }, iommuSys: cfg.iommuSys });
  // RISC-V has no port I/O space of its own; QEMU still shows the global 64 KiB "io" region.
  const io = MemoryRegion.io('io', 0x10000, ignoreIo);
  // The host bridge function's DMA view, with bus mastering off (QEMU: an empty "bus master container").
  const busMaster = MemoryRegion.container('bus master container', REGION_SIZE_MAX);
  const bm = MemoryRegion.alias('bus master', m.system, 0, REGION_SIZE_MAX);
  bm.setEnabled(false);
  busMaster.addSubregion(0, bm);
  const spaces = [new AddressSpace(io, 'I/O'), new AddressSpace(busMaster, 'gpex-root'), m.as];
  for (let i = 0; i < m.smp; i++) spaces.push(new AddressSpace(m.system, `cpu-memory-${i}`));
  return spaces;
}
