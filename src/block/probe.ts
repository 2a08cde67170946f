/**
 * Format probing as QEMU 7.2 does it: look at the first bytes of the image,
 * pick a format by its magic, else raw. A guessed raw image gets QEMU's
 * warning, and its first sector may only be written with content that still
 * probes as raw (so a guest cannot turn it into, say, a qcow2 header that
 * names a host file as backing file on the next start).
 */
import { BlockError, type BlockDriver } from './driver.js';
import type { RawFile } from './raw-file.js';

/** Bytes QEMU reads for probing, and the region whose writes are restricted. */
export const PROBE_BYTES = 512;

export type ProbedFormat = 'raw' | 'qcow2' | 'qcow' | 'qed' | 'vmdk' | 'vdi' | 'vhdx' | 'vpc' | 'luks' | 'parallels';

function ascii(buf: Uint8Array, at: number, s: string): boolean {
  if (at + s.length > buf.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** The format the first bytes of an image say it is (raw when nothing matches). */
export function probeFormat(buf: Uint8Array): ProbedFormat {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length >= 8 && ascii(buf, 0, 'QFI\xfb')) return dv.getUint32(4) >= 2 ? 'qcow2' : 'qcow';
  if (ascii(buf, 0, 'QED\0')) return 'qed';
  if (ascii(buf, 0, 'KDMV') || ascii(buf, 0, '# Disk DescriptorFile')) return 'vmdk';
  if (buf.length >= 0x44 && dv.getUint32(0x40, true) === 0xbeda107f) return 'vdi';
  if (ascii(buf, 0, 'vhdxfile')) return 'vhdx';
  if (ascii(buf, 0, 'conectix')) return 'vpc';
  if (ascii(buf, 0, 'LUKS\xba\xbe')) return 'luks';
  if (ascii(buf, 0, 'WithoutFreeSpace') || ascii(buf, 0, 'WithouFreSpacExt')) return 'parallels';
  return 'raw';
}

export function rawProbeWarning(path: string): string {
  return (
    `WARNING: Image format was not specified for '${path}' and probing guessed raw.\n` +
    '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
    "         Specify the 'raw' format explicitly to remove the restrictions."
  );
}

/**
 * A raw image whose format was guessed: writes touching the first 512 bytes
 * must cover all of them and keep them probing as raw, else they fail (EPERM),
 * as in QEMU's raw driver.
 */
export class ProbedRaw implements BlockDriver {
  constructor(readonly file: RawFile) {}
  get size(): number {
    return this.file.size;
  }
  get readonly(): boolean {
    return this.file.readonly;
  }
  readv(bufs: Uint8Array[], offset: number): Promise<void> {
    return this.file.readv(bufs, offset);
  }
  writev(bufs: Uint8Array[], offset: number): Promise<void> {
    if (offset < PROBE_BYTES) {
      const head = new Uint8Array(PROBE_BYTES);
      let n = 0;
      for (const b of bufs) {
        if (n >= PROBE_BYTES) break;
        const k = Math.min(b.length, PROBE_BYTES - n);
        head.set(b.subarray(0, k), n);
        n += k;
      }
      if (offset !== 0 || n < PROBE_BYTES) return Promise.reject(new BlockError('write to sector 0 of a probed raw image must cover the whole sector', 'EINVAL'));
      if (probeFormat(head) !== 'raw') return Promise.reject(new BlockError('write would change the probed format of sector 0 (specify format=raw)', 'EPERM'));
    }
    return this.file.writev(bufs, offset);
  }
  flush(): Promise<void> {
    return this.file.flush();
  }
  writeZeroes(offset: number, len: number): Promise<void> {
    return this.file.writeZeroes(offset, len);
  }
  discard(offset: number, len: number): Promise<void> {
    return this.file.discard(offset, len);
  }
  close(): Promise<void> {
    return this.file.close();
  }
}
