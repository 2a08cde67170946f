// The RISC-V IOMMU driven the way Linux's riscv-iommu driver drives it: WARL
// discovery, a 3-level directory, Sv39 page tables, commands and faults in
// guest memory. The guest side is written with plain stores into RAM.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MEMTX_OK, memTxAttrs } from '../../../src/memory/types.js';
import { configureDma, dmaMap, dmaRead, dmaUnmap, dmaWrite } from '../../../src/dma/dma.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { CMDS_PER_TURN, RiscvIommu } from '../../../src/hw/iommu/riscv-iommu.js';
import * as B from '../../../src/hw/iommu/riscv-iommu-bits.js';
import { RiscvIommuDriver } from '../../../src/hw/iommu/riscv-iommu-driver.js';

const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

const RAM = 0x8000_0000;
const RAM_SIZE = 0x40_0000;
const REGS = 0x301_0000;
const DEVID = 0x0008; // 00:01.0
const PSCID = 5;

const POOL = 0x1000; // offset in RAM of the driver's table pool
const DATA = 0x100000;
const FENCE_WORD = 0x200000;

function machine(opts: { revokeTimeoutNs?: number } = {}) {
  const log: string[] = [];
  const sys = MemoryRegion.container('system', 2 ** 48);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const as = new AddressSpace(sys, 'memory', { log: (m) => log.push(m) });
  const loop = new EventLoop({ clock: { kind: 'realtime' }, quantum: 1000 });
  const levels = [false, false, false, false];
  const irqs = levels.map((_, i) => ({ set: (l: boolean) => (levels[i] = l) }));
  const iommu = new RiscvIommu({ sysAs: as, irqs, scheduler: loop, log: (m) => log.push(m), ...opts });
  sys.addSubregion(REGS, iommu.regs);
  const devAs = new AddressSpace(iommu.dmaRootFor(DEVID), 'dev', { log: (m) => log.push(m) });
  configureDma(devAs, { log: (m) => log.push(m) });
  const ram = ramMr.ramBytes();
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  // Linux's shape: a 3-level directory, 4096 commands, 1024 fault records.
  const drv = new RiscvIommuDriver(as, { regs: REGS, pool: RAM + POOL, poolSize: 0xf0000, cqLog2: 11, fqLog2: 9, ddtLevels: 3 });
  const reg32 = (off: number): number => drv.reg32(off);
  const reg64 = (off: number): bigint => {
    assert.equal(as.load(REGS + off, 8, memTxAttrs({})), MEMTX_OK);
    return (BigInt(as.valHi) << 32n) | BigInt(as.valLo);
  };
  const settle = (): void => {
    for (let i = 0; i < 50; i++) {
      loop.runTimers();
      loop.runBottomHalves();
    }
  };
  const bringUp = (): void => {
    drv.wreg64(B.REG_CQB, 0x1f, 0);
    assert.ok(Number(reg64(B.REG_CQB) & 0x1fn) >= 11, 'WARL: the largest queue is reported');
    drv.bringUp();
    assert.equal(Number(reg64(B.REG_CQB) & 0x1fn), 11, 'the size written reads back');
    assert.equal(reg32(B.REG_CQCSR) & (B.QCSR_ON | B.QCSR_BUSY), B.QCSR_ON);
    assert.equal(reg32(B.REG_FQCSR) & (B.QCSR_ON | B.QCSR_BUSY), B.QCSR_ON);
    assert.equal(Number(reg64(B.REG_DDTP) & 0xfn), B.DDTP_MODE_3LVL);
    drv.attach(DEVID, PSCID);
  };
  const map = (iova: number, ramOff: number, ro = false): void => drv.map(DEVID, iova, RAM + ramOff, ro);
  const unmap = (iova: number): void => drv.unmap(DEVID, iova);
  const iotinvalVma = (iova?: number): void => drv.iotinvalVma(PSCID, iova);
  const iofence = (data: number): void => drv.iofence(data, RAM + FENCE_WORD, true);
  const cmd = (d0: bigint, d1: bigint): void =>
    drv.command(Number(d0 & 0xffffffffn), Number(d0 >> 32n), Number(d1 & 0xffffffffn), Number(d1 >> 32n));
  const fqRecord = (i: number): bigint => {
    const [lo, hi] = drv.r64(drv.fq + i * 32);
    return (BigInt(hi) << 32n) | BigInt(lo);
  };
  return { loop, as, iommu, devAs, ram, dv, drv, reg32, reg64, map, unmap, cmd, settle, bringUp, iotinvalVma, iofence, fqRecord, levels, log };
}

const DEV = memTxAttrs({ requesterId: DEVID });

test('capabilities, WARL queue sizes and the directory modes are what Linux probes', () => {
  const m = machine();
  const caps = m.reg64(B.REG_CAPABILITIES);
  assert.equal(Number(caps & 0xffn), 0x10, 'version 1.0');
  assert.ok((caps & BigInt(B.CAP_SV39 | B.CAP_SV48)) !== 0n);
  assert.equal(Number((caps >> 28n) & 3n), 1, 'wired interrupts');
  assert.equal(m.reg32(B.REG_FCTL) & B.FCTL_WSI, B.FCTL_WSI);
  // An unknown mode leaves ddtp unchanged (WARL).
  m.drv.wreg64(B.REG_DDTP, 7, 0);
  assert.equal(Number(m.reg64(B.REG_DDTP) & 0xfn), B.DDTP_MODE_OFF);
  m.drv.wreg64(B.REG_ICVEC, 0x2310, 0);
  assert.equal(m.reg64(B.REG_ICVEC), 0x2310n);
  m.bringUp();
});

test('DMA through a 3-level directory and Sv39 reaches the mapped page, and a bad IOVA becomes a fault record', () => {
  const m = machine();
  m.bringUp();
  m.map(0x4000, DATA);
  const buf = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(dmaWrite(m.devAs, 0x4010, buf, DEV), MEMTX_OK);
  assert.deepEqual([...m.ram.subarray(DATA + 0x10, DATA + 0x18)], [...buf]);
  const back = new Uint8Array(8);
  assert.equal(dmaRead(m.devAs, 0x4010, back, DEV), MEMTX_OK);
  assert.deepEqual([...back], [...buf]);
  // An unmapped IOVA: the device sees an error, the guest a fault record.
  assert.notEqual(dmaWrite(m.devAs, 0x9000, buf, DEV), MEMTX_OK);
  assert.equal(m.reg32(B.REG_FQT), 1);
  const hdr = m.fqRecord(0);
  assert.equal(Number(hdr & 0xfffn), B.CAUSE.writePageFault);
  assert.equal(Number((hdr >> 34n) & 0x3fn), B.TTYP_UNTRANSLATED_WRITE);
  assert.equal(Number(hdr >> 40n), DEVID);
  assert.equal(m.reg32(B.REG_IPSR) & B.IPSR_FIP, B.IPSR_FIP);
  assert.equal(m.levels[1], true, 'fault interrupt on the fiv vector');
  assert.deepEqual(m.drv.takeFaults(), [{ cause: B.CAUSE.writePageFault, devId: DEVID, iova: 0x9000 }], 'iotval is the IOVA');
  assert.equal(m.levels[1], false, 'the driver consumed the record and cleared fip');
  // A read-only page refuses writes with a write page fault.
  m.map(0x5000, DATA + 0x1000, true);
  assert.notEqual(dmaWrite(m.devAs, 0x5000, buf, DEV), MEMTX_OK);
  assert.equal(m.drv.takeFaults()[0]?.cause, B.CAUSE.writePageFault);
  assert.equal(dmaRead(m.devAs, 0x5000, back, DEV), MEMTX_OK);
});

test('IOTINVAL.VMA + IOFENCE.C: the fence completes only after a DMA mapping through the old translation is gone', () => {
  const m = machine();
  m.bringUp();
  m.map(0x4000, DATA);
  const held = dmaMap(m.devAs, 0x4000, 0x100, true, DEV);
  assert.ok(held.ok);
  // The guest unmaps the page, invalidates and fences.
  m.unmap(0x4000);
  m.iotinvalVma(0x4000);
  m.iofence(0xabcd);
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 0, 'no completion while the mapping is held');
  assert.equal(m.reg32(B.REG_CQH), 1, 'the head stops at the fence');
  assert.equal(m.iommu.stats.fencesWaited, 1);
  // The device finishes its DMA: the write-back lands, then the fence completes.
  held.bytes.fill(0x5a, 0, 16);
  assert.equal(dmaUnmap(m.devAs, held, 16), MEMTX_OK);
  assert.equal(m.ram[DATA], 0x5a, 'the in-flight write finished before the fence');
  return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
    m.settle();
    assert.equal(m.dv.getUint32(FENCE_WORD, true), 0xabcd);
    assert.equal(m.reg32(B.REG_CQH), 2);
    assert.equal(m.reg32(B.REG_CQCSR) & B.CQCSR_FENCE_W_IP, B.CQCSR_FENCE_W_IP);
    assert.equal(m.levels[0], true, 'command interrupt on the civ vector');
    // After the fence no access reaches memory through the old translation.
    m.ram[DATA] = 0;
    assert.notEqual(dmaWrite(m.devAs, 0x4000, new Uint8Array([9]), DEV), MEMTX_OK);
    assert.equal(m.ram[DATA], 0);
  });
});

test('a mapping held forever is revoked after the timeout: the fence completes and the late write is dropped', async () => {
  const m = machine({ revokeTimeoutNs: 1e6 });
  m.bringUp();
  m.map(0x4000, DATA);
  const held = dmaMap(m.devAs, 0x4000, 0x100, true, DEV);
  assert.ok(held.ok);
  m.unmap(0x4000);
  m.iotinvalVma();
  m.iofence(1);
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 0);
  await new Promise((r) => setTimeout(r, 20));
  m.settle(); // the revoke timer fires; the fence resumes once its completion is seen
  await new Promise((r) => setImmediate(r));
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 1, 'the fence completed after the revoke');
  held.bytes.fill(0x77, 0, 4);
  dmaUnmap(m.devAs, held, 4);
  assert.equal(m.ram[DATA], 0, 'a write through a revoked mapping never lands');
});

test('hostile programming: illegal commands, tables outside memory, a wrapping queue', () => {
  const m = machine();
  m.bringUp();
  // Unknown opcode: cmd_ill, the head stays on it, an interrupt.
  m.cmd(0x7fn, 0n);
  m.settle();
  assert.equal(m.reg32(B.REG_CQCSR) & B.CQCSR_CMD_ILL, B.CQCSR_CMD_ILL);
  assert.equal(m.reg32(B.REG_CQH), 0);
  assert.equal(m.iommu.stats.illegalCommands, 1);
  // Commands after it wait until the guest clears the error; the guest overwrites the bad one first.
  m.drv.w64(m.drv.cq, B.CMD_IODIR, (1 << 1) | (DEVID << 8));
  m.iofence(2);
  m.drv.wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE | B.CQCSR_CMD_ILL);
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 2);
  // A device context pointing into MMIO / past RAM: directory faults, never a crash.
  m.drv.takeFaults();
  m.drv.wreg64(B.REG_DDTP, 0, 0); // off first, as a driver must
  m.drv.wreg64(B.REG_DDTP, (0x1000_0000 / 4096) * 1024 + B.DDTP_MODE_1LVL, 0);
  assert.notEqual(dmaWrite(m.devAs, 0x4000, new Uint8Array(4), DEV), MEMTX_OK);
  assert.equal(m.drv.takeFaults()[0]?.cause, B.CAUSE.ddtLoadFault);
  // IOMMU off: all DMA refused with cause 256.
  m.drv.wreg64(B.REG_DDTP, 0, 0);
  assert.notEqual(dmaRead(m.devAs, 0x4000, new Uint8Array(4), DEV), MEMTX_OK);
  assert.equal(m.drv.takeFaults()[0]?.cause, B.CAUSE.dmaDisabled);
  // A command queue in unassigned space: cqmf, processing stops, nothing thrown.
  m.drv.wreg32(B.REG_CQCSR, 0);
  m.drv.wreg64(B.REG_CQB, 0x4000_0000 / 4, 0);
  m.drv.wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE);
  m.drv.wreg32(B.REG_CQT, 3);
  m.settle();
  assert.equal(m.reg32(B.REG_CQCSR) & B.QCSR_MF, B.QCSR_MF);
});

test('a flood of commands is processed a bounded batch per event-loop turn', () => {
  const m = machine();
  m.bringUp();
  for (let i = 0; i < 1000; i++) m.iotinvalVma(0x4000);
  m.iofence(3);
  // One bottom-half run handles at most CMDS_PER_TURN commands, then yields.
  m.loop.runBottomHalves();
  assert.equal(m.reg32(B.REG_CQH), CMDS_PER_TURN);
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 3);
  assert.equal(m.reg32(B.REG_CQH), 1001);
});
