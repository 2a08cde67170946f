/**
 * Write a new, empty qcow2 v3 image (the -snapshot overlay). Layout: header
 * in cluster 0, refcount table in cluster 1, one refcount block in cluster 2,
 * the L1 table from cluster 3; 64 KiB clusters, 16-bit refcounts, as
 * `qemu-img create -f qcow2` makes them.
 */
import { BlockError } from '../driver.js';
import type { RawFile } from '../raw-file.js';
import { EXT_BACKING_FORMAT, MAX_L1_BYTES, QCOW2_MAGIC } from './format.js';

export interface Qcow2CreateOptions {
  size: number;
  backingFile?: string;
  backingFormat?: string;
}

export async function createQcow2(file: RawFile, opts: Qcow2CreateOptions): Promise<void> {
  const clusterBits = 16;
  const cs = 2 ** clusterBits;
  const l1Size = Math.ceil(opts.size / (cs * (cs / 8)));
  if (l1Size * 8 > MAX_L1_BYTES) throw new BlockError(`virtual size ${opts.size} is too large for a qcow2 overlay`);
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / cs));
  const total = 3 + l1Clusters;
  const img = new Uint8Array(total * cs);
  const dv = new DataView(img.buffer);
  dv.setUint32(0, QCOW2_MAGIC);
  dv.setUint32(4, 3);
  dv.setUint32(20, clusterBits);
  dv.setUint32(24, Math.floor(opts.size / 0x100000000));
  dv.setUint32(28, opts.size % 0x100000000);
  dv.setUint32(36, l1Size);
  dv.setUint32(44, 3 * cs); // l1_table_offset
  dv.setUint32(52, cs); // refcount_table_offset
  dv.setUint32(56, 1); // refcount_table_clusters
  dv.setUint32(96, 4); // refcount_order
  dv.setUint32(100, 104); // header_length
  let at = 104;
  const te = new TextEncoder();
  if (opts.backingFile !== undefined) {
    if (opts.backingFormat) {
      const f = te.encode(opts.backingFormat);
      dv.setUint32(at, EXT_BACKING_FORMAT);
      dv.setUint32(at + 4, f.length);
      img.set(f, at + 8);
      at += 8 + Math.ceil(f.length / 8) * 8;
    }
    at += 8; // end-of-extensions marker (zeros)
    const name = te.encode(opts.backingFile);
    if (name.length > 1023 || at + name.length > cs) throw new BlockError(`backing file name '${opts.backingFile}' is too long`);
    img.set(name, at);
    dv.setUint32(12, at);
    dv.setUint32(16, name.length);
  }
  dv.setUint32(cs + 4, 2 * cs); // refcount table entry 0 -> block at cluster 2
  for (let c = 0; c < total; c++) dv.setUint16(2 * cs + c * 2, 1);
  await file.write(img, 0);
}
