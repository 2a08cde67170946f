import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FwCfg, FwCfgError, DMA_BYTES_PER_TURN, FW_CFG_FILE_DIR, FW_CFG_NB_CPUS, FW_CFG_RAM_SIZE, addVirtFwCfgDefaults,
} from '../../../src/hw/nvram/fw-cfg.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { fuzzRegion } from '../misc/helpers.js';

const BASE = 0x10100000;
const DATA = BASE, CTL = BASE + 8, DMA = BASE + 0x10;
const RAM = 0x80000000;

function make() {
  const root = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 0x100000);
  root.addSubregion(RAM, ram);
  const as = new AddressSpace(root, 'memory');
  const fw = new FwCfg(as);
  fw.mapInto(root, BASE);
  const select = (key: number) => {
    // The selector is big-endian: store the byte-swapped value little-endian.
    as.stw(CTL, ((key & 0xff) << 8) | (key >> 8));
  };
  const readBytes = (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = as.ldub(DATA);
    return out;
  };
  return { as, fw, ram, select, readBytes };
}

function be32(b: Uint8Array, o: number) {
  return new DataView(b.buffer, b.byteOffset).getUint32(o, false);
}

test('fw-cfg: three regions with QEMU names and sizes', () => {
  const { fw } = make();
  assert.deepEqual([fw.data.name, fw.data.size, fw.ctl.name, fw.ctl.size, fw.dmaMr.name, fw.dmaMr.size],
    ['fwcfg.data', 8, 'fwcfg.ctl', 2, 'fwcfg.dma', 8]);
});

test('fw-cfg: signature at reset, as QEMU shows at 0x10100000 (0x554d4551)', () => {
  const { as, fw } = make();
  fw.reset();
  assert.equal(as.ldl(DATA), 0x554d4551, '4 bytes in memory order: "QEMU"');
  assert.equal(as.ldl(DATA), 0, 'past the end reads zeros');
});

test('fw-cfg: ID advertises traditional and DMA; DMA register reads "QEMU CFG"', () => {
  const { as, select, readBytes } = make();
  select(1);
  assert.deepEqual([...readBytes(4)], [3, 0, 0, 0]);
  assert.equal(as.ldq(DMA), 0x47464320554d4551n);
});

test('fw-cfg: 8-byte data reads return 8 consecutive bytes', () => {
  const { as, fw, select } = make();
  fw.addFile('etc/test', new TextEncoder().encode('ABCDEFGHIJ'));
  select(fw.fileKey('etc/test'));
  const v = as.ldq(DATA);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  assert.equal(new TextDecoder().decode(b), 'ABCDEFGH');
  assert.equal(as.lduw(DATA), 0x4a49); // "IJ"
});

test('fw-cfg: file directory is sorted by name with BE fields; numeric items are LE', () => {
  const { fw, select, readBytes } = make();
  fw.addFile('opt/zeta', new Uint8Array(7));
  fw.addFile('etc/alpha', new Uint8Array(300));
  fw.addI64(FW_CFG_RAM_SIZE, 256 * 1024 * 1024);
  fw.addI16(FW_CFG_NB_CPUS, 2);
  select(FW_CFG_FILE_DIR);
  const dir = readBytes(4 + 128);
  assert.equal(be32(dir, 0), 2);
  const entry = (i: number) => {
    const o = 4 + 64 * i;
    const nameBytes = dir.subarray(o + 8, o + 64);
    return { size: be32(dir, o), select: (dir[o + 4]! << 8) | dir[o + 5]!, name: new TextDecoder().decode(nameBytes.subarray(0, nameBytes.indexOf(0))) };
  };
  assert.deepEqual(entry(0), { size: 300, select: 0x20, name: 'etc/alpha' });
  assert.deepEqual(entry(1), { size: 7, select: 0x21, name: 'opt/zeta' });
  select(FW_CFG_RAM_SIZE);
  assert.deepEqual([...readBytes(8)], [0, 0, 0, 0x10, 0, 0, 0, 0]);
  select(FW_CFG_NB_CPUS);
  assert.deepEqual([...readBytes(2)], [2, 0]);
});

test('fw-cfg: bad configuration is a typed error', () => {
  const { fw } = make();
  fw.addFile('a', new Uint8Array(1));
  assert.throws(() => fw.addFile('a', new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.addFile('x'.repeat(56), new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.addFile('', new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.setItem(0x19, new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.setItem(0x25, new Uint8Array(1)), FwCfgError);
  for (let i = 1; i < 32; i++) fw.addFile(`f${i}`, new Uint8Array(1));
  assert.throws(() => fw.addFile('one-too-many', new Uint8Array(1)), FwCfgError);
});

/** Write a FWCfgDmaAccess at `desc` and kick it with an 8-byte big-endian store. */
function kick(as: AddressSpace, desc: number, control: number, length: number, address: number) {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, control, false);
  dv.setUint32(4, length, false);
  dv.setBigUint64(8, BigInt(address), false);
  as.write(desc, b);
  const swapped = new Uint8Array(8);
  new DataView(swapped.buffer).setBigUint64(0, BigInt(desc), false);
  as.stq(DMA, new DataView(swapped.buffer).getBigUint64(0, true));
  return as.ldl(desc); // control word as stored (BE on the wire; 0 or 1 either way round)
}

test('fw-cfg: DMA select+read copies a file, pads past the end with zeros, reports success', () => {
  const { as, fw } = make();
  fw.addFile('etc/payload', new TextEncoder().encode('hello dma'));
  const key = fw.fileKey('etc/payload');
  const dst = RAM + 0x1000;
  as.write(dst, new Uint8Array(16).fill(0xee));
  const ctl = kick(as, RAM, (key << 16) | 0x08 | 0x02, 12, dst);
  assert.equal(ctl, 0);
  const got = new Uint8Array(12);
  as.read(dst, got);
  assert.equal(new TextDecoder().decode(got.subarray(0, 9)), 'hello dma');
  assert.deepEqual([...got.subarray(9)], [0, 0, 0]);
  assert.equal(as.ldub(dst + 12), 0xee, 'nothing beyond length');
});

test('fw-cfg: DMA skip advances; the 4-byte split (high then low) triggers too', () => {
  const { as, fw, readBytes } = make();
  fw.addFile('f', new TextEncoder().encode('0123456789'));
  const key = fw.fileKey('f');
  assert.equal(kick(as, RAM, (key << 16) | 0x08 | 0x04, 4, 0), 0);
  assert.equal(new TextDecoder().decode(readBytes(2)), '45');
  // Descriptor, then two 4-byte stores: high half first, low half starts it.
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x02, false);
  dv.setUint32(4, 3, false);
  dv.setBigUint64(8, BigInt(RAM + 0x2000), false);
  as.write(RAM + 0x100, b);
  as.stl(DMA, 0);
  const lo = RAM + 0x100;
  as.stl(DMA + 4, ((lo & 0xff) << 24) | ((lo >>> 8 & 0xff) << 16) | ((lo >>> 16 & 0xff) << 8) | (lo >>> 24));
  const got = new Uint8Array(3);
  as.read(RAM + 0x2000, got);
  assert.equal(new TextDecoder().decode(got), '678');
});

test('fw-cfg: DMA write needs a writable file and the exact remaining length', () => {
  const { as, fw } = make();
  fw.addFile('etc/ro', new Uint8Array(4));
  fw.addFile('etc/rw', new Uint8Array(4), { writable: true });
  as.write(RAM + 0x3000, Uint8Array.from([9, 8, 7, 6]));
  assert.notEqual(kick(as, RAM, (fw.fileKey('etc/ro') << 16) | 0x08 | 0x10, 4, RAM + 0x3000), 0);
  assert.equal(kick(as, RAM, (fw.fileKey('etc/rw') << 16) | 0x08 | 0x10, 4, RAM + 0x3000), 0);
  assert.deepEqual([...fw.fileData('etc/rw')!], [9, 8, 7, 6]);
  assert.equal(fw.dmaErrors, 1);
});

test('fw-cfg: hostile DMA (unmapped descriptor, huge lengths, own registers) fails cleanly', () => {
  const { as, fw } = make();
  // Descriptor in unassigned space: nothing to report into, no throw.
  as.stq(DMA, 0x0000000010000000n);
  // Huge zero fill running off the end of RAM stops with an error.
  assert.notEqual(kick(as, RAM, (0x7777 << 16) | 0x08 | 0x02, 0xffffffff, RAM + 0x10), 0);
  // DMA aimed at fw_cfg's own data register is refused by the reentrancy guard.
  assert.notEqual(kick(as, RAM, (0 << 16) | 0x08 | 0x02, 4, DATA), 0);
  fuzzRegion(fw.data, 8, 5000, 31);
  fuzzRegion(fw.ctl, 2, 5000, 32);
  assert.ok(fw.dmaErrors >= 2);
});

test('fw-cfg: virt defaults match what a guest reads from QEMU 7.2 (-smp 2 -nographic)', () => {
  const { fw, select, readBytes } = make();
  addVirtFwCfgDefaults(fw, { cpus: 2, nographic: true });
  select(FW_CFG_FILE_DIR);
  const dir = readBytes(4 + 64 * 3);
  const names: string[] = [];
  for (let i = 0; i < be32(dir, 0); i++) {
    const o = 4 + 64 * i;
    const n = dir.subarray(o + 8, o + 64);
    names.push(`${be32(dir, o)} 0x${((dir[o + 4]! << 8) | dir[o + 5]!).toString(16)} ${new TextDecoder().decode(n.subarray(0, n.indexOf(0)))}`);
  }
  // Recorded from a bare-metal program dumping fw_cfg under qemu-system-riscv64 -M virt -smp 2 -nographic.
  assert.deepEqual(names, ['0 0x20 bios-geometry', '0 0x21 bootorder', '4 0x22 etc/boot-fail-wait']);
  const hex = (k: number) => { select(k); return Buffer.from(readBytes(8)).toString('hex'); };
  assert.equal(hex(0x00), '51454d5500000000');
  assert.equal(hex(0x01), '0300000000000000');
  assert.equal(hex(0x04), '0100000000000000');
  assert.equal(hex(0x05), '0200000000000000');
  assert.equal(hex(0x22), 'ffffffff00000000');
});

test('fw-cfg: a 4 MiB DMA into the flash bank runs in bounded steps, completes, and a reset abandons it', async () => {
  const { VirtMachine } = await import('../../../src/machine/virt/virt.js');
  const m = new VirtMachine({ ramSize: 16 << 20, smp: 1, logger: () => {} });
  const desc = 0x80001000;
  const start = (len: number): void => {
    // Select the signature item (4 bytes) and READ len bytes: all but 4 are "past the end", zero-filled.
    const d = new Uint8Array(16);
    const dv = new DataView(d.buffer);
    dv.setUint32(0, 0x02 | 0x08, false);
    dv.setUint32(4, len, false);
    dv.setUint32(8, 0, false);
    dv.setUint32(12, 0x20000000, false);
    m.as.write(desc, d);
    m.as.stl(DMA, 0);
    m.as.stl(DMA + 4, ((desc & 0xff) << 24) | ((desc >>> 8) & 0xff) << 16 | ((desc >>> 16) & 0xff) << 8 | (desc >>> 24));
  };
  const control = (): number => {
    const b = new Uint8Array(4);
    m.as.read(desc, b);
    return be32(b, 0);
  };
  start(4 << 20);
  assert.ok(m.fwCfg.dmaBusy, 'a long transfer does not complete inside the write');
  assert.notEqual(control(), 0, 'the guest sees it still running');
  let turns = 0;
  while (m.fwCfg.dmaBusy) {
    m.loop.runBottomHalves();
    turns++;
  }
  assert.equal(control(), 0, 'completed without error');
  assert.ok(turns + 1 >= (4 << 20) / DMA_BYTES_PER_TURN, `${turns} turns`);
  assert.ok(m.fwCfg.maxStepBytes <= DMA_BYTES_PER_TURN);
  // The bytes reached the bank as writes (commands to a flash chip): it is back in read-array mode, unchanged.
  assert.equal(m.as.ldl(0x20000000), 0);

  start(4 << 20);
  m.loop.runBottomHalves();
  m.fwCfg.reset();
  assert.equal(m.fwCfg.dmaBusy, false);
  const before = control();
  m.loop.runBottomHalves();
  assert.equal(control(), before, 'nothing more happens after the reset');
  for (const f of m.flash) f.close();
});
