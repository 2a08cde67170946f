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

const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

const RAM = 0x8000_0000;
const RAM_SIZE = 0x40_0000;
const REGS = 0x301_0000;
const DEVID = 0x0008; // 00:01.0
const PSCID = 5;

// Guest memory layout (offsets in RAM).
const DDT_ROOT = 0x1000;
const CQ = 0x10000; // 4096 x 16 B
const FQ = 0x20000; // 1024 x 32 B
const PT_POOL = 0x30000;
const DATA = 0x100000;
const FENCE_WORD = 0x2000;

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
  const w64 = (off: number, v: bigint): void => dv.setBigUint64(off, v, true);
  const r64 = (off: number): bigint => dv.getBigUint64(off, true);
  const reg32 = (off: number): number => {
    assert.equal(as.load(REGS + off, 4, memTxAttrs({})), MEMTX_OK);
    return as.valLo;
  };
  const reg64 = (off: number): bigint => {
    assert.equal(as.load(REGS + off, 8, memTxAttrs({})), MEMTX_OK);
    return (BigInt(as.valHi) << 32n) | BigInt(as.valLo);
  };
  const wreg32 = (off: number, v: number): void => void as.store(REGS + off, 4, v >>> 0, 0, memTxAttrs({}));
  const wreg64 = (off: number, v: bigint): void =>
    void as.store(REGS + off, 8, Number(v & 0xffffffffn), Number(v >> 32n), memTxAttrs({}));
  let ptNext = PT_POOL;
  const allocPage = (): number => {
    const p = ptNext;
    ptNext += 0x1000;
    ram.fill(0, p, p + 0x1000);
    return p;
  };
  const ppn = (ramOff: number): bigint => BigInt((RAM + ramOff) / 4096);
  // Sv39 root for the device.
  const ptRoot = allocPage();
  /** Map iova -> ramOff with a leaf PTE (R, W unless ro, A, D, U, V). */
  const map = (iova: number, ramOff: number, ro = false): void => {
    let table = ptRoot;
    for (let level = 2; level > 0; level--) {
      const idx = Math.floor(iova / 2 ** (12 + 9 * level)) % 512;
      let pte = r64(table + idx * 8);
      if ((pte & 1n) === 0n) {
        const next = allocPage();
        pte = (ppn(next) << 10n) | 1n;
        w64(table + idx * 8, pte);
      }
      table = Number((pte >> 10n) * 4096n) - RAM;
    }
    const idx = Math.floor(iova / 4096) % 512;
    const flags = B.PTE_V | B.PTE_R | (ro ? 0 : B.PTE_W | B.PTE_D) | B.PTE_A | B.PTE_U;
    w64(table + idx * 8, (ppn(ramOff) << 10n) | BigInt(flags));
  };
  const unmap = (iova: number): void => {
    let table = ptRoot;
    for (let level = 2; level > 0; level--) {
      const idx = Math.floor(iova / 2 ** (12 + 9 * level)) % 512;
      table = Number((r64(table + idx * 8) >> 10n) * 4096n) - RAM;
    }
    w64(table + (Math.floor(iova / 4096) % 512) * 8, 0n);
  };
  let cqTail = 0;
  const cmd = (d0: bigint, d1: bigint): void => {
    w64(CQ + cqTail * 16, d0);
    w64(CQ + cqTail * 16 + 8, d1);
    cqTail = (cqTail + 1) % 4096;
    wreg32(B.REG_CQT, cqTail);
  };
  const settle = (): void => {
    for (let i = 0; i < 50; i++) {
      loop.runTimers();
      loop.runBottomHalves();
    }
  };
  /** Linux's bring-up: WARL probes, queues on, 3LVL directory, device context with Sv39. */
  const bringUp = (): void => {
    wreg64(B.REG_ICVEC, 0x2310n);
    wreg64(B.REG_CQB, 0x1fn);
    const maxLog = Number(reg64(B.REG_CQB) & 0x1fn);
    assert.ok(maxLog >= 11);
    const cqb = ((BigInt(RAM + CQ) >> 2n) & ~0x3ffn) | 11n; // 4096 entries
    wreg64(B.REG_CQB, cqb);
    assert.equal(reg64(B.REG_CQB), cqb);
    const fqb = ((BigInt(RAM + FQ) >> 2n) & ~0x3ffn) | 9n; // 1024 entries
    wreg64(B.REG_FQB, fqb);
    assert.equal(reg64(B.REG_FQB), fqb);
    wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE | B.QCSR_MF);
    assert.equal(reg32(B.REG_CQCSR) & (B.QCSR_ON | B.QCSR_BUSY), B.QCSR_ON);
    wreg32(B.REG_FQCSR, B.QCSR_EN | B.QCSR_IE | B.QCSR_MF);
    assert.equal(reg32(B.REG_FQCSR) & (B.QCSR_ON | B.QCSR_BUSY), B.QCSR_ON);
    // Directory: 3 levels; device 8 sits at DDI[2]=0, DDI[1]=0, DDI[0]=8.
    ram.fill(0, DDT_ROOT, DDT_ROOT + 0x1000);
    const mid = allocPage();
    const leaf = allocPage();
    w64(DDT_ROOT, (ppn(mid) << 10n) | 1n);
    w64(mid, (ppn(leaf) << 10n) | 1n);
    const dc = leaf + DEVID * 32;
    w64(dc + 8, 0n); // iohgatp: bare
    w64(dc + 16, BigInt(PSCID) << 12n); // ta
    w64(dc + 24, (BigInt(B.ATP_MODE_SV39) << 60n) | ppn(ptRoot)); // fsc
    w64(dc, BigInt(B.DC_TC_V));
    wreg64(B.REG_DDTP, (ppn(DDT_ROOT) << 10n) | BigInt(B.DDTP_MODE_3LVL));
    assert.equal(Number(reg64(B.REG_DDTP) & 0xfn), B.DDTP_MODE_3LVL);
  };
  const iotinvalVma = (iova?: number): void => {
    let d0 = BigInt(B.CMD_IOTINVAL) | (BigInt(PSCID) << 12n) | (1n << 32n);
    let d1 = 0n;
    if (iova !== undefined) {
      d0 |= BigInt(B.IOTINVAL_AV);
      d1 = BigInt(iova / 4096) << 10n;
    }
    cmd(d0, d1);
  };
  const iofence = (data: number): void => {
    cmd(BigInt(B.CMD_IOFENCE) | BigInt(B.IOFENCE_AV | B.IOFENCE_WSI) | (BigInt(data) << 32n), BigInt(RAM + FENCE_WORD) >> 2n);
  };
  return { loop, as, iommu, devAs, ram, dv, r64, w64, reg32, reg64, wreg32, wreg64, map, unmap, cmd, settle, bringUp, iotinvalVma, iofence, levels, log };
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
  m.wreg64(B.REG_DDTP, 7n);
  assert.equal(Number(m.reg64(B.REG_DDTP) & 0xfn), B.DDTP_MODE_OFF);
  m.wreg64(B.REG_ICVEC, 0x2310n);
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
  const hdr = m.r64(FQ);
  assert.equal(Number(hdr & 0xfffn), B.CAUSE.writePageFault);
  assert.equal(Number((hdr >> 34n) & 0x3fn), B.TTYP_UNTRANSLATED_WRITE);
  assert.equal(Number(hdr >> 40n), DEVID);
  assert.equal(m.r64(FQ + 16), 0x9000n, 'iotval is the IOVA');
  assert.equal(m.reg32(B.REG_IPSR) & B.IPSR_FIP, B.IPSR_FIP);
  assert.equal(m.levels[1], true, 'fault interrupt on the fiv vector');
  m.wreg32(B.REG_FQH, 1);
  m.wreg32(B.REG_IPSR, B.IPSR_FIP);
  assert.equal(m.levels[1], false);
  // A read-only page refuses writes with a write page fault.
  m.map(0x5000, DATA + 0x1000, true);
  assert.notEqual(dmaWrite(m.devAs, 0x5000, buf, DEV), MEMTX_OK);
  assert.equal(Number(m.r64(FQ + 32) & 0xfffn), B.CAUSE.writePageFault);
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
  m.w64(CQ, BigInt(B.CMD_IODIR) | (1n << 33n) | (BigInt(DEVID) << 40n));
  m.iofence(2);
  m.wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE | B.CQCSR_CMD_ILL);
  m.settle();
  assert.equal(m.dv.getUint32(FENCE_WORD, true), 2);
  // A device context pointing into MMIO / past RAM: directory faults, never a crash.
  m.wreg64(B.REG_DDTP, 0n); // off first, as a driver must
  m.wreg64(B.REG_DDTP, (BigInt(0x1000_0000 / 4096) << 10n) | BigInt(B.DDTP_MODE_1LVL));
  assert.notEqual(dmaWrite(m.devAs, 0x4000, new Uint8Array(4), DEV), MEMTX_OK);
  const last = (m.reg32(B.REG_FQT) + 1023) % 1024;
  assert.equal(Number(m.r64(FQ + last * 32) & 0xfffn), B.CAUSE.ddtLoadFault);
  // IOMMU off: all DMA refused with cause 256.
  m.wreg64(B.REG_DDTP, 0n);
  assert.notEqual(dmaRead(m.devAs, 0x4000, new Uint8Array(4), DEV), MEMTX_OK);
  const l2 = (m.reg32(B.REG_FQT) + 1023) % 1024;
  assert.equal(Number(m.r64(FQ + l2 * 32) & 0xfffn), B.CAUSE.dmaDisabled);
  // A command queue in unassigned space: cqmf, processing stops, nothing thrown.
  m.wreg32(B.REG_CQCSR, 0);
  m.wreg64(B.REG_CQB, (BigInt(0x4000_0000) >> 2n) & ~0x3ffn);
  m.wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE);
  m.wreg32(B.REG_CQT, 3);
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
