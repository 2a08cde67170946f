/**
 * Booting the virt board as QEMU's virt does: which firmware runs by default,
 * and loading firmware, kernel, initrd and device tree into guest RAM. The
 * board (virt.ts) then writes the reset ROM that jumps to what was loaded.
 */
import type { HostServices } from '../../host/types.js';
import { Fdt } from '../fdt.js';
import { checkInitrd, checkKernelImage, ImageCheckError } from '../linux-image.js';
import { fdtLoadAddr, initrdLoadAddr, isElf, kernelStartAddr, loadImage, readImageFile, type GuestWriter } from '../loader.js';
import { setChosenBootargs, setChosenInitrd } from './fdt.js';
import { FDT_MAX_SIZE, FW_BASE, VIRT_MEMMAP as M } from './memmap.js';

/** Debian's firmware (packages u-boot-qemu and opensbi). */
export const DEFAULT_UBOOT = '/usr/lib/u-boot/qemu-riscv64/u-boot.bin';
export const DEFAULT_FW_DYNAMIC = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
export const DEFAULT_FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
export const SMODE_UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';

export interface BootSpec {
  /** Path, 'none', or undefined for QEMU's default (M-mode U-Boot; fw_dynamic when -kernel is given). */
  bios?: string;
  kernel?: string;
  initrd?: string;
  dtb?: string;
  append?: string;
  /** Override the default firmware paths (tests). */
  defaults?: { uboot?: string; fwDynamic?: string };
}

export interface BootInfo {
  firmware: string | null;
  firmwareEnd: number;
  kernelEntry: number | null;
  initrd: { start: number; end: number } | null;
  fdtAddr: number;
  startAddr: number;
}

/** A firmware/kernel problem found before the guest runs (one line for the CLI). */
export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/** Run a -kernel/-initrd sanity check, reporting its finding as a BootError. */
function checkImage(check: () => void): void {
  try {
    check();
  } catch (e) {
    if (e instanceof ImageCheckError) throw new BootError(e.message);
    throw e;
  }
}

/** What loading needs of the board (VirtMachine is one): RAM to write, the platform's files, its device tree. */
export interface BootTarget extends GuestWriter {
  readonly host: HostServices;
  readonly ramSize: number;
  /** The board's own device tree (used unless -dtb names another). */
  readonly fdt: Fdt;
}

/**
 * Load firmware, kernel, initrd and device tree into the board's RAM (the
 * reset ROM is the caller's). Returns what was loaded and the device tree
 * handed to the guest (after -dtb/-append/-initrd edits). Throws BootError
 * (one line) when anything is missing or corrupt, LoaderError from the image
 * loader.
 */
export function loadBootImages(m: BootTarget, spec: BootSpec): { info: BootInfo; fdt: Fdt } {
  const files = m.host.files;
  let biosPath: string | null;
  if (spec.bios === 'none') biosPath = null;
  else if (spec.bios !== undefined) biosPath = spec.bios;
  else if (spec.kernel !== undefined) {
    biosPath = spec.defaults?.fwDynamic ?? DEFAULT_FW_DYNAMIC;
    if (!files.exists(biosPath)) {
      throw new BootError(`default firmware '${biosPath}' is missing; install it with: apt-get install opensbi`);
    }
  } else {
    biosPath = spec.defaults?.uboot ?? DEFAULT_UBOOT;
    if (!files.exists(biosPath)) {
      throw new BootError(`default firmware '${biosPath}' is missing; install it with: apt-get install u-boot-qemu`);
    }
  }

  let firmwareEnd = FW_BASE;
  let startAddr = FW_BASE;
  if (biosPath) {
    const fw = loadImage(m, readImageFile(files, biosPath, 'firmware'), FW_BASE, `firmware '${biosPath}'`);
    if (fw.elf) startAddr = fw.entry;
    firmwareEnd = fw.end;
  }

  let kernelEntry: number | null = null;
  let initrd: { start: number; end: number } | null = null;
  if (spec.kernel !== undefined) {
    const kaddr = biosPath ? kernelStartAddr(firmwareEnd) : FW_BASE;
    const kbytes = readImageFile(files, spec.kernel, 'kernel');
    if (!isElf(kbytes)) checkImage(() => checkKernelImage(kbytes, `kernel '${spec.kernel}'`));
    const k = loadImage(m, kbytes, kaddr, `kernel '${spec.kernel}'`);
    kernelEntry = k.entry;
    if (!biosPath) startAddr = k.entry;
    if (spec.initrd !== undefined) {
      const bytes = readImageFile(files, spec.initrd, 'initrd');
      checkImage(() => checkInitrd(bytes, `initrd '${spec.initrd}'`, m.ramSize, m.host.gunzipSync));
      const start = initrdLoadAddr(k.entry, m.ramSize);
      if (!m.writeRam(start, bytes)) {
        throw new BootError(`initrd '${spec.initrd}' (${bytes.length} bytes) does not fit in guest RAM at 0x${start.toString(16)}`);
      }
      initrd = { start, end: start + bytes.length };
    }
  } else if (spec.initrd !== undefined) {
    throw new BootError('-initrd needs -kernel');
  }

  let fdt = m.fdt;
  if (spec.dtb !== undefined) {
    try {
      fdt = Fdt.parse(readImageFile(files, spec.dtb, 'device tree'));
    } catch (e) {
      throw new BootError(`device tree '${spec.dtb}': ${(e as Error).message}`);
    }
  }
  if (spec.append) setChosenBootargs(fdt, spec.append);
  if (initrd) setChosenInitrd(fdt, initrd.start, initrd.end);
  const blob = fdt.toBlob();
  if (blob.length > FDT_MAX_SIZE) throw new BootError(`device tree is ${blob.length} bytes; at most ${FDT_MAX_SIZE} fit`);
  const fdtAddr = fdtLoadAddr(M.dram.base, m.ramSize, FDT_MAX_SIZE);
  if (!m.writeRam(fdtAddr, blob)) throw new BootError('device tree does not fit in guest RAM');
  return { info: { firmware: biosPath, firmwareEnd, kernelEntry, initrd, fdtAddr, startAddr }, fdt };
}
