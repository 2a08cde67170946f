/**
 * Firmware and kernel images: ELF64 executables (PT_LOAD segments at their
 * physical addresses, entry from the header, as QEMU's load_elf does) and raw
 * images (copied as-is at a given address). Loading writes guest memory
 * through a writer (an AddressSpace) and reports where the image landed.
 */
import type { HostFiles } from '../host/types.js';
import { HostFileError } from '../host/types.js';

export class LoaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoaderError';
  }
}

export interface ElfSegment {
  /** Physical load address (p_paddr). */
  paddr: number;
  /** File bytes (p_filesz); the rest up to memsz is zero-filled. */
  data: Uint8Array;
  memsz: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
}

const EM_RISCV = 243;
const PT_LOAD = 1;

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

function u64(dv: DataView, off: number, what: string): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LoaderError(`ELF ${what} 0x${v.toString(16)} is beyond 2^53`);
  return Number(v);
}

/** Parse a little-endian RISC-V ELF64 executable. Throws LoaderError when malformed. */
export function parseElf64(bytes: Uint8Array, name = 'image'): ElfImage {
  if (!isElf(bytes)) throw new LoaderError(`${name}: not an ELF file`);
  if (bytes.length < 64) throw new LoaderError(`${name}: truncated ELF header`);
  if (bytes[4] !== 2) throw new LoaderError(`${name}: not a 64-bit ELF`);
  if (bytes[5] !== 1) throw new LoaderError(`${name}: not a little-endian ELF`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_RISCV) throw new LoaderError(`${name}: ELF machine ${machine} is not RISC-V`);
  const entry = u64(dv, 24, 'entry');
  const phoff = u64(dv, 32, 'phoff');
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phnum === 0) throw new LoaderError(`${name}: ELF has no program headers`);
  if (phentsize < 56 || phoff + phnum * phentsize > bytes.length) throw new LoaderError(`${name}: ELF program headers lie outside the file`);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (dv.getUint32(o, true) !== PT_LOAD) continue;
    const offset = u64(dv, o + 8, 'p_offset');
    const paddr = u64(dv, o + 24, 'p_paddr');
    const filesz = u64(dv, o + 32, 'p_filesz');
    const memsz = u64(dv, o + 40, 'p_memsz');
    if (filesz > memsz) throw new LoaderError(`${name}: ELF segment ${i} has filesz > memsz`);
    if (offset + filesz > bytes.length) throw new LoaderError(`${name}: ELF segment ${i} lies outside the file`);
    if (memsz === 0) continue;
    segments.push({ paddr, data: bytes.subarray(offset, offset + filesz), memsz });
  }
  if (segments.length === 0) throw new LoaderError(`${name}: ELF has no loadable segments`);
  return { entry, segments };
}

/** Where guest bytes go: returns false when [addr, addr+len) is not writable RAM. */
export interface GuestWriter {
  writeRam(addr: number, data: Uint8Array): boolean;
  zeroRam(addr: number, len: number): boolean;
}

export interface LoadedImage {
  entry: number;
  /** Lowest and one past the highest address written. */
  start: number;
  end: number;
  elf: boolean;
}

export function readImageFile(files: HostFiles, path: string, what: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = files.read(path);
  } catch (e) {
    const why = e instanceof HostFileError ? e.message : String((e as Error).message);
    throw new LoaderError(`could not load ${what} '${path}': ${why}`);
  }
  if (bytes.length === 0) throw new LoaderError(`could not load ${what} '${path}': file is empty`);
  return bytes;
}

/** Load an ELF at its addresses, or a raw image at rawAddr. */
export function loadImage(w: GuestWriter, bytes: Uint8Array, rawAddr: number, what: string): LoadedImage {
  if (isElf(bytes)) {
    const elf = parseElf64(bytes, what);
    let start = Infinity;
    let end = 0;
    for (const s of elf.segments) {
      if (!w.writeRam(s.paddr, s.data) || (s.memsz > s.data.length && !w.zeroRam(s.paddr + s.data.length, s.memsz - s.data.length))) {
        throw new LoaderError(`${what}: segment at 0x${s.paddr.toString(16)} (+0x${s.memsz.toString(16)}) does not fit in guest RAM`);
      }
      start = Math.min(start, s.paddr);
      end = Math.max(end, s.paddr + s.memsz);
    }
    return { entry: elf.entry, start, end, elf: true };
  }
  if (!w.writeRam(rawAddr, bytes)) {
    throw new LoaderError(`${what}: ${bytes.length} bytes at 0x${rawAddr.toString(16)} do not fit in guest RAM`);
  }
  return { entry: rawAddr, start: rawAddr, end: rawAddr + bytes.length, elf: false };
}

/** QEMU's riscv_calc_kernel_start_addr on rv64: the end of the firmware rounded up to 2 MiB. */
export function kernelStartAddr(firmwareEnd: number): number {
  const align = 2 * 1024 * 1024;
  return Math.ceil(firmwareEnd / align) * align;
}

/** QEMU's riscv_load_fdt placement: 2 MiB aligned below min(RAM end, 3 GiB) minus the FDT buffer size. */
export function fdtLoadAddr(ramBase: number, ramSize: number, fdtSize: number): number {
  const end = Math.min(ramBase + ramSize, 3 * 1024 * 1024 * 1024);
  const align = 2 * 1024 * 1024;
  return Math.floor((end - fdtSize) / align) * align;
}

/** QEMU's riscv_load_initrd placement: kernel entry + min(RAM / 2, 128 MiB). */
export function initrdLoadAddr(kernelEntry: number, ramSize: number): number {
  return kernelEntry + Math.min(Math.floor(ramSize / 2), 128 * 1024 * 1024);
}
