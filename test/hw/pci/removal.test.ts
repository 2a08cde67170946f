import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { GpexHost } from '../../../src/hw/pci/gpex.js';
import type { PciDomainLock } from '../../../src/hw/pci/bus.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { createRealmSyncEnv } from '../../../src/sync/env.js';
import { RwLock } from '../../../src/sync/rwlock.js';
import { makeRig } from './helpers.js';

function barFn(name: string): PciDevice {
  const d = new PciDevice({ name, vendorId: 0x1234, deviceId: 0x1, classCode: 0, interruptPin: 1 });
  d.registerBar(0, { kind: 'mem32', region: MemoryRegion.io(`${name}-bar0`, 0x1000, { read: () => 0x5a5a, write: () => {} }) });
  d.registerBar(1, { kind: 'mem32', region: MemoryRegion.io(`${name}-bar1`, 0x1000, { read: () => 0x6b6b, write: () => {} }) });
  return d;
}

test('removal unmaps BARs in one transaction, drops INTx, and config space reads all-ones afterwards', () => {
  const r = makeRig();
  const d = barFn('victim');
  const fn = r.host.addDevice(d);
  r.cfgWrite(fn, 0x10, 4, 0x40001000);
  r.cfgWrite(fn, 0x14, 4, 0x40002000);
  r.cfgWrite(fn, 4, 2, 0x6);
  d.setIntx(true);
  assert.equal(r.irqLevels[1], true);
  assert.equal(r.as.ldl(0x40001000), 0x5a5a);
  const pciMem = new AddressSpace(r.host.memory, 'pci-mem');
  let commits = 0;
  pciMem.addListener({ commit: () => void commits++ });
  commits = 0;
  assert.equal(r.host.removeDevice(d), true);
  assert.equal(commits, 1, 'both BARs go in one transaction');
  assert.equal(r.as.ldl(0x40001000), 0xffffffff);
  assert.equal(r.as.ldl(0x40002000), 0xffffffff);
  assert.equal(r.irqLevels[1], false);
  assert.equal(r.cfgRead(fn, 0, 4), 0xffffffff);
  r.cfgWrite(fn, 4, 2, 0x6);
  assert.equal(r.cfgRead(fn, 4, 2), 0xffff);
  // The function object itself refuses too (a caller holding a stale reference).
  assert.equal(d.configRead(0, 4), 0xffffffff);
  d.configWrite(0x10, 4, 0x40003000);
  assert.equal(d.decodeBar(0), -1);
  d.setIntx(true);
  assert.equal(r.irqLevels[1], false);
  assert.equal(r.host.removeDevice(d), false, 'removing twice is a no-op');
  assert.equal(r.host.bus.mappings().length, 0);
  pciMem.destroy();
});

/** The domain lock, with a hook run just before an acquisition is granted (a racing thread "gets there first"). */
class RacingLock implements PciDomainLock {
  beforeRead: (() => void) | null = null;
  beforeWrite: (() => void) | null = null;
  readonly inner = new RwLock(createRealmSyncEnv(), 'pci-domain');
  readSync(): void {
    const h = this.beforeRead;
    this.beforeRead = null;
    h?.();
    this.inner.readSync();
  }
  read(): Promise<void> {
    this.readSync();
    return Promise.resolve();
  }
  unlockRead(): void {
    this.inner.unlockRead();
  }
  writeSync(): void {
    const h = this.beforeWrite;
    this.beforeWrite = null;
    h?.();
    this.inner.writeSync();
  }
  write(): Promise<void> {
    this.writeSync();
    return Promise.resolve();
  }
  unlockWrite(): void {
    this.inner.unlockWrite();
  }
  assertWriteHeld(): void {
    this.inner.assertWriteHeld();
  }
}

test('config accesses already in flight when the function is removed never reach it', () => {
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const lock = new RacingLock();
  const host = new GpexHost({ dmaRoot: system, sysmem: system, lock, functionLock: () => ({ lockSync() {}, lock: async () => {}, unlock() {} }) });
  const d = barFn('victim');
  const fn = host.addDevice(d);
  host.bus.configWrite(fn, 0x10, 4, 0x40001000);
  let touched = 0;
  const origRead = d.config.read.bind(d.config);
  d.config.read = (o, s) => {
    touched++;
    return origRead(o, s);
  };
  // A read that was issued before the removal but gets the lock after it.
  lock.beforeRead = () => host.removeDevice(d);
  assert.equal(host.bus.configRead(fn, 0, 4), 0xffffffff);
  assert.equal(touched, 0, 'the removed function\'s registers were never consulted');
  // Same for a BAR write (write-locked path) and a plain register write (read-locked path).
  const d2 = barFn('victim2');
  const fn2 = host.addDevice(d2);
  lock.beforeWrite = () => host.removeDevice(d2);
  host.bus.configWrite(fn2, 4, 2, 0x2);
  assert.equal(d2.config.stored(4), 0);
  const d3 = barFn('victim3');
  const fn3 = host.addDevice(d3);
  lock.beforeRead = () => host.removeDevice(d3);
  host.bus.configWrite(fn3, 0x3c, 1, 0x55);
  assert.equal(d3.config.stored(0x3c), 0);
  assert.equal(lock.inner.readersHeld, 0);
  assert.equal(lock.inner.writeLocked, false);
});

test('mapping runs with the domain lock held for writing and takes no function lock', () => {
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const env = createRealmSyncEnv({ debugLocks: true, log: () => {} });
  const lock = new RwLock(env, 'pci-domain');
  const fnLocksTaken: string[] = [];
  const host = new GpexHost({
    dmaRoot: system,
    sysmem: system,
    lock,
    functionLock: (dev) => ({
      lockSync: () => {
        assert.equal(lock.writeLocked, false, 'no function lock under the write lock');
        fnLocksTaken.push(dev.name);
      },
      lock: async () => {},
      unlock: () => {},
    }),
  });
  const a = barFn('a');
  const b = barFn('b');
  host.addDevice(a);
  host.addDevice(b);
  let writeHeldDuringMap = false;
  const orig = host.bus.updateMappings.bind(host.bus);
  host.bus.updateMappings = (dev) => {
    writeHeldDuringMap = lock.isWriteHeld();
    orig(dev);
  };
  host.bus.configWrite(a.devfn, 0x10, 4, 0x40001000);
  host.bus.configWrite(b.devfn, 0x10, 4, 0x40001000);
  fnLocksTaken.length = 0;
  host.bus.configWrite(a.devfn, 4, 2, 0x2);
  host.bus.configWrite(b.devfn, 4, 2, 0x2);
  assert.equal(writeHeldDuringMap, true);
  assert.deepEqual(fnLocksTaken, []);
  host.bus.configRead(a.devfn, 0, 4);
  host.bus.configWrite(b.devfn, 0x3c, 1, 1);
  assert.deepEqual(fnLocksTaken, ['a', 'b'], 'reads and plain writes take the function lock under the read lock');
  assert.equal(env.validator.enabled, true);
});
