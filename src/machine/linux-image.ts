/**
 * Sanity checks for `-kernel` and `-initrd` files that QEMU would load blindly
 * (it copies any non-ELF file as a raw image), so a wrong or damaged file is
 * one clear error before the guest starts instead of a guest that hangs or
 * panics minutes later. Files in formats these checks do not know are
 * accepted, as QEMU accepts them.
 *
 * Kernels: a Linux `Image` carries a 64-byte header whose magic at 0x38 names
 * the architecture ("RSC\x05" for RISC-V, "ARM\x64" for arm64); an x86
 * bzImage has "HdrS" at 0x202. Images with an EFI stub (Debian's) start with
 * "MZ" and carry PE/COFF section headers, whose raw data must lie inside the
 * file: a truncated download fails that test.
 *
 * Initramfs: gzip data must decompress completely; a bare newc cpio archive
 * must run to its TRAILER!!! entry; programs in it must be RISC-V ELF.
 */
import { defaultHost } from '../host/default.js';
import type { HostServices } from '../host/types.js';

export class ImageCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageCheckError';
  }
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && off + i < b.length; i++) s += String.fromCharCode(b[off + i]!);
  return s;
}

/** Throws ImageCheckError when a non-ELF kernel file is evidently not a whole RISC-V Linux image. */
export function checkKernelImage(b: Uint8Array, name: string): void {
  if (b.length >= 0x206 && ascii(b, 0x202, 4) === 'HdrS') throw new ImageCheckError(`${name}: an x86 Linux kernel (bzImage), not RISC-V`);
  if (b.length < 64) return;
  const magic2 = ascii(b, 0x38, 4);
  if (magic2 === 'ARM\x64') throw new ImageCheckError(`${name}: an arm64 Linux Image, not RISC-V`);
  if (magic2 !== 'RSC\x05') return;
  if (ascii(b, 0, 2) !== 'MZ') return;
  // PE/COFF: e_lfanew at 0x3c -> "PE\0\0", COFF header, optional header, sections.
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const pe = dv.getUint32(0x3c, true);
  if (pe + 24 > b.length || ascii(b, pe, 4) !== 'PE\0\0') throw new ImageCheckError(`${name}: truncated (its PE header lies beyond the end of the file)`);
  const nsec = dv.getUint16(pe + 6, true);
  const optSize = dv.getUint16(pe + 20, true);
  const sec0 = pe + 24 + optSize;
  if (sec0 + nsec * 40 > b.length) throw new ImageCheckError(`${name}: truncated (its section table lies beyond the end of the file)`);
  for (let i = 0; i < nsec; i++) {
    const s = sec0 + i * 40;
    const rawSize = dv.getUint32(s + 16, true);
    const rawPtr = dv.getUint32(s + 20, true);
    if (rawSize !== 0 && rawPtr + rawSize > b.length) {
      throw new ImageCheckError(`${name}: truncated (${b.length} bytes; its ${ascii(b, s, 8).replace(/\0+$/, '')} section ends at ${rawPtr + rawSize})`);
    }
  }
}

/**
 * Throws ImageCheckError when an initramfs is a damaged gzip stream or an
 * incomplete cpio archive. `maxUnpacked` bounds the inflated size (the guest
 * must unpack it into its RAM anyway), so a gzip bomb is refused by the check
 * instead of exhausting the host's memory. Without a synchronous inflate (a
 * web page, `gunzip` null) a gzip stream is checked by its header only.
 */
export function checkInitrd(
  b: Uint8Array,
  name: string,
  maxUnpacked = 1 << 30,
  gunzip: HostServices['gunzipSync'] = defaultHost.gunzipSync,
): void {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    if (gunzip === null) {
      if (b.length < 18 || b[2] !== 8) throw new ImageCheckError(`${name}: truncated or corrupt gzip data (bad header)`);
      return;
    }
    let cpio: Uint8Array;
    try {
      cpio = gunzip(b, maxUnpacked);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ImageCheckError(`${name}: unpacks to more than ${maxUnpacked} bytes (larger than guest RAM)`);
      }
      throw new ImageCheckError(`${name}: truncated or corrupt gzip data (${(e as Error).message})`);
    }
    if (isNewc(cpio)) checkCpio(cpio, name);
    return;
  }
  if (isNewc(b)) checkCpio(b, name);
}

function isNewc(b: Uint8Array): boolean {
  const m = ascii(b, 0, 6);
  return m === '070701' || m === '070702';
}

const ELF_MACHINES: Record<number, string> = { 3: 'x86', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 's390', 40: 'ARM', 62: 'x86-64', 183: 'arm64', 258: 'LoongArch' };

/**
 * An initramfs built for another architecture is caught by its programs: an
 * ELF executable or shared object (firmware blobs for other processors
 * excepted) must be RISC-V.
 */
function checkProgram(data: Uint8Array, path: string, name: string): void {
  if (data.length < 20 || data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) return;
  if (/^(\.\/)?(usr\/)?lib\/firmware\//.test(path)) return;
  const type = data[16]! | (data[17]! << 8);
  const machine = data[18]! | (data[19]! << 8);
  if ((type === 2 || type === 3) && machine !== 243) {
    throw new ImageCheckError(`${name}: '${path}' is a program for ${ELF_MACHINES[machine] ?? `ELF machine ${machine}`}, not RISC-V`);
  }
}

/** Walk newc headers (110 bytes, 4-byte aligned name and data) to the trailer. */
function checkCpio(b: Uint8Array, name: string): void {
  let off = 0;
  for (;;) {
    if (off + 110 > b.length || !isNewc(b.subarray(off))) {
      throw new ImageCheckError(`${name}: truncated cpio archive (no TRAILER!!! entry)`);
    }
    const field = (i: number): number => parseInt(ascii(b, off + 6 + i * 8, 8), 16);
    const filesize = field(6);
    const namesize = field(11);
    if (!(filesize >= 0 && namesize >= 1)) throw new ImageCheckError(`${name}: corrupt cpio header at offset ${off}`);
    const entry = ascii(b, off + 110, namesize - 1);
    const dataOff = (off + 110 + namesize + 3) & ~3;
    const next = (dataOff + filesize + 3) & ~3;
    if (entry === 'TRAILER!!!') return;
    if (dataOff + filesize > b.length) throw new ImageCheckError(`${name}: truncated cpio archive (entry '${entry}')`);
    checkProgram(b.subarray(dataOff, dataOff + filesize), entry, name);
    off = next;
  }
}
