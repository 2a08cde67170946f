// The PtIommu's guest-visible registers: programming, the invalidation
// protocol (INV_STATUS stays 1 while a mapping through the old translation is
// held), and fault reporting with an interrupt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MEMTX_ACCESS_ERROR, MEMTX_OK, memTxAttrs } from '../../src/memory/types.js';
import { irqLine } from '../../src/hw/irq.js';
import { configureDma, dmaMap, dmaUnmap, dmaWrite } from '../../src/dma/dma.js';
import { IOMMU_RW } from '../../src/dma/iommu.js';
import {
  PageTableBuilder,
  PtIommu,
  PTI_ID,
  PTI_REG_FAULT_ACK,
  PTI_REG_FAULT_COUNT,
  PTI_REG_FAULT_INFO,
  PTI_REG_FAULT_IOVA_LO,
  PTI_REG_ID,
  PTI_REG_INV_ADDR_HI,
  PTI_REG_INV_ADDR_LO,
  PTI_REG_INV_CMD,
  PTI_REG_INV_LEN,
  PTI_REG_INV_STATUS,
  PTI_REG_MODE,
  PTI_REG_ROOT_HI,
  PTI_REG_ROOT_LO,
} from '../../src/dma/pt-iommu.js';

const RAM = 0x8000_0000;
const REGS = 0x1000_0000;
const DEV = memTxAttrs({ requesterId: 0x0123 });

function rig() {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', 0x10_0000);
  sys.addSubregion(RAM, ramMr);
  const sysAs = new AddressSpace(sys, 'memory', { log: () => {} });
  const iommu = new PtIommu('iommu', sysAs, { log: () => {} });
  let irq = false;
  sys.addSubregion(REGS, iommu.createRegisters({ irq: irqLine((l) => (irq = l)) }));
  const devRoot = MemoryRegion.container('dev', 2 ** 39);
  devRoot.addSubregion(0, iommu.region);
  const devAs = new AddressSpace(devRoot, 'dev', { log: () => {} });
  configureDma(devAs, { log: () => {} });
  const pt = new PageTableBuilder(sysAs, RAM + 0xf_0000, 0x1_0000);
  const rd = (off: number): number => sysAs.ldl(REGS + off);
  const wr = (off: number, v: number): void => void sysAs.stl(REGS + off, v);
  return { sysAs, devAs, iommu, pt, ram: ramMr.ramBytes(), rd, wr, irq: () => irq, destroy: () => (devAs.destroy(), sysAs.destroy()) };
}

test('registers: mode and root, the invalidation protocol as a barrier, and faults with an interrupt', () => {
  const { devAs, pt, ram, rd, wr, irq, destroy } = rig();
  assert.equal(rd(PTI_REG_ID), PTI_ID);
  assert.equal(rd(PTI_REG_MODE), 0, 'reset: block');
  assert.equal(dmaWrite(devAs, 0x1000, Uint8Array.of(1), DEV), MEMTX_ACCESS_ERROR);
  assert.equal(irq(), true);
  assert.equal(rd(PTI_REG_FAULT_INFO), (1 | (2 << 8) | (0x123 << 16)) >>> 0, 'not-present, write, requester');
  wr(PTI_REG_FAULT_ACK, 1);
  assert.equal(irq(), false);
  pt.map(0x1000, RAM + 0x3000, 0x1000, IOMMU_RW);
  wr(PTI_REG_ROOT_LO, pt.root >>> 0);
  wr(PTI_REG_ROOT_HI, 0);
  assert.equal(rd(PTI_REG_ROOT_LO), pt.root >>> 0);
  wr(PTI_REG_MODE, 2);
  assert.equal(rd(PTI_REG_MODE), 2);
  assert.equal(dmaWrite(devAs, 0x1004, Uint8Array.of(0x5a), DEV), MEMTX_OK);
  assert.equal(ram[0x3004], 0x5a);
  // A mapping is held while the guest retargets the page and invalidates.
  const m = dmaMap(devAs, 0x1000, 0x10, true, DEV);
  assert.ok(m.ok);
  pt.unmap(0x1000, 0x1000);
  pt.map(0x1000, RAM + 0x4000, 0x1000, IOMMU_RW);
  wr(PTI_REG_INV_ADDR_LO, 0x1000);
  wr(PTI_REG_INV_ADDR_HI, 0);
  wr(PTI_REG_INV_LEN, 0x1000);
  wr(PTI_REG_INV_CMD, 1);
  assert.equal(rd(PTI_REG_INV_STATUS), 1, 'pending while the old mapping is held');
  m.bytes.fill(0x77);
  dmaUnmap(devAs, m, 0x10);
  assert.equal(rd(PTI_REG_INV_STATUS), 0);
  assert.equal(ram[0x3000], 0x77, 'the held mapping wrote back before the status cleared');
  assert.equal(dmaWrite(devAs, 0x1000, Uint8Array.of(0x99), DEV), MEMTX_OK);
  assert.equal(ram[0x4000], 0x99);
  // Faults are counted and the last one is readable.
  const before = rd(PTI_REG_FAULT_COUNT);
  dmaWrite(devAs, 0x9000, Uint8Array.of(1), DEV);
  assert.equal(rd(PTI_REG_FAULT_COUNT), before + 1);
  assert.equal(rd(PTI_REG_FAULT_IOVA_LO), 0x9000);
  assert.equal(irq(), true);
  // Hostile values: an unknown mode or a misaligned root blocks; never throws.
  wr(PTI_REG_ROOT_LO, 0x123);
  wr(PTI_REG_MODE, 2);
  assert.equal(rd(PTI_REG_MODE), 0);
  wr(PTI_REG_MODE, 77);
  assert.equal(rd(PTI_REG_MODE), 0);
  wr(PTI_REG_INV_ADDR_HI, 0xffffffff);
  wr(PTI_REG_INV_CMD, 1);
  assert.equal(rd(PTI_REG_INV_STATUS), 0);
  destroy();
});
