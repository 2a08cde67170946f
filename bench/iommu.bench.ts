// npm run bench -- --filter iommu
// dma.riscv_iommu_blk_seqread_ratio: a block device's sequential read of a
// host file (dmaBlkIo, 128 KiB requests, the virtio-blk data path) into guest
// RAM through the RISC-V IOMMU in strict mode — the guest driver maps the
// request's pages in Sv39, the device DMAs, then the driver unmaps, queues
// IOTINVAL.VMA + IOFENCE.C and waits for the fence, as Linux's strict DMA
// domain does per unmap — against the same read with no IOMMU, in the same
// run. value and baseline are MiB/s; ratio is IOMMU / no IOMMU.
import { mkdtempSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryRegion } from '../src/memory/region.js';
import { AddressSpace } from '../src/memory/address-space.js';
import { memTxAttrs } from '../src/memory/types.js';
import { configureDma, DMA_DIRECTION_FROM_DEVICE } from '../src/dma/dma.js';
import { SgList } from '../src/dma/sglist.js';
import { dmaBlkIo, type BlockIoFn } from '../src/dma/block-io.js';
import { EventLoop } from '../src/machine/event-loop.js';
import { RiscvIommu } from '../src/hw/iommu/riscv-iommu.js';
import { RiscvIommuDriver } from '../src/hw/iommu/riscv-iommu-driver.js';
import { round, type Report } from './harness.js';

export const group = 'iommu';

const RAM = 0x8000_0000;
const RAM_SIZE = 64 * 1024 * 1024;
const REGS = 0x301_0000;
const FILE_SIZE = 32 * 1024 * 1024;
const REQ = 128 * 1024;
const BUF = RAM + 0x100_0000; // guest buffer (reused by every request)
const IOVA = 0x4000_0000;
const FENCE = RAM + 0x20_0000;
const DEVID = 8;
const PSCID = 3;

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-iommu-'));
  const path = join(dir, 'disk.img');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  for (let o = 0; o < FILE_SIZE; o += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
  const fh = await open(path, 'r');
  // One readv per request, as src/block's raw file does.
  const io: BlockIoFn = async (iov, offset) => {
    await fh.readv(iov, offset);
  };

  const sys = MemoryRegion.container('system', 2 ** 48);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const sysAs = new AddressSpace(sys, 'bench-memory', { log: () => {} });
  configureDma(sysAs, { log: () => {} });
  const loop = new EventLoop({ clock: { kind: 'realtime' } });
  const iommu = new RiscvIommu({ sysAs, irqs: [], scheduler: loop, log: () => {} });
  sys.addSubregion(REGS, iommu.regs);
  const devAs = new AddressSpace(iommu.dmaRootFor(DEVID), 'bench-dev', { log: () => {} });
  configureDma(devAs, { log: () => {} });
  const drv = new RiscvIommuDriver(sysAs, { regs: REGS, pool: RAM + 0x40_0000, poolSize: 0x40_0000 });
  drv.bringUp();
  drv.attach(DEVID, PSCID);
  const ram = ramMr.ramBytes();
  const attrs = memTxAttrs({ requesterId: DEVID });
  let fenceSeq = 0;

  const fence = async (): Promise<void> => {
    const want = ++fenceSeq;
    drv.iofence(want, FENCE);
    const word = (): number => ram[FENCE - RAM]! | (ram[FENCE - RAM + 1]! << 8);
    while (word() !== (want & 0xffff)) {
      loop.runBottomHalves();
      if (word() !== (want & 0xffff)) await new Promise((r) => setImmediate(r));
    }
  };

  const readAll = async (viaIommu: boolean): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let off = 0; off < FILE_SIZE; off += REQ) {
      let sg: SgList;
      if (viaIommu) {
        for (let p = 0; p < REQ; p += 4096) drv.map(DEVID, IOVA + p, BUF + p);
        sg = new SgList(devAs, attrs);
        sg.add(IOVA, REQ);
      } else {
        sg = new SgList(sysAs, attrs);
        sg.add(BUF, REQ);
      }
      const r = await dmaBlkIo(sg, off, DMA_DIRECTION_FROM_DEVICE, io, {}).done;
      if (r.status !== 'ok') throw new Error(`bench read failed: ${r.status}`);
      if (viaIommu) {
        for (let p = 0; p < REQ; p += 4096) {
          drv.unmap(DEVID, IOVA + p);
          drv.iotinvalVma(PSCID, IOVA + p);
        }
        await fence();
      }
    }
    const ns = Number(process.hrtime.bigint() - t0);
    return FILE_SIZE / (1024 * 1024) / (ns / 1e9);
  };

  await readAll(false);
  await readAll(true);
  const vals: number[] = [];
  const bases: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < 5; r++) {
    const b = await readAll(false);
    const v = await readAll(true);
    bases.push(b);
    vals.push(v);
    ratios.push(v / b);
  }
  const med = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
  report({ name: 'dma.riscv_iommu_blk_seqread_ratio', unit: 'MiB/s', value: round(med(vals)), baseline: round(med(bases)), ratio: round(med(ratios)) });
  await fh.close();
  devAs.destroy();
  sysAs.destroy();
  rmSync(dir, { recursive: true, force: true });
}
