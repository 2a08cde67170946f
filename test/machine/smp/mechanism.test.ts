import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { memoryTransaction } from '../../../src/memory/transaction.js';
import { MEMTX_ACCESS_ERROR, MEMTX_DECODE_ERROR, MEMTX_ERROR, MEMTX_OK, memTxAttrs } from '../../../src/memory/types.js';
import { deviceOwner } from '../../../src/memory/owner.js';
import { unrealize } from '../../../src/memory/lifetime.js';
import { SmpCoordinator } from '../../../src/machine/smp/coordinator.js';
import { GracePeriods } from '../../../src/machine/smp/epoch.js';
import { HomeDevices } from '../../../src/machine/smp/home-devices.js';
import { SnapshotPublisher } from '../../../src/machine/smp/publisher.js';
import { RealmPhysMemory } from '../../../src/machine/smp/realm-memory.js';
import { hartRealm, OP_DEV_READ, realmMtime, REALM_EXITED, REALM_RUNNING, SmpShared, W_ACK, W_ALIVE, W_KICK } from '../../../src/machine/smp/shared.js';
import { hartLines, SharedMsip } from '../../../src/machine/smp/shared-lines.js';
import { monotonicNs } from '../../../src/host/clock.js';
import { SNAP_IO, SNAP_RAM, SNAP_RESERVED, SNAP_ROM, SnapshotView, serializeFlatView } from '../../../src/machine/smp/snapshot.js';
import type { RequestPort } from '../../../src/machine/smp/mailbox.js';
import { MessageChannel } from 'node:worker_threads';

const FIXTURE = new URL('./fixtures/io-devices.ts', import.meta.url).href;

function sampleMap(): { root: MemoryRegion; ram: MemoryRegion; rom: MemoryRegion; dev: MemoryRegion; calls: number[] } {
  const root = MemoryRegion.container('sys', 2 ** 32);
  const ram = MemoryRegion.ram('ram', 0x10000);
  const rom = MemoryRegion.rom('rom', 0x1000);
  const calls: number[] = [];
  const dev = MemoryRegion.io('dev', 0x100, { read: (o) => (calls.push(o), 0xab00 + o), write: (o, v) => calls.push(o, v) }, { owner: deviceOwner('dev') });
  memoryTransaction(() => {
    root.addSubregion(0x80000000, ram);
    root.addSubregion(0x1000, rom);
    root.addSubregion(0x10000000, dev);
    root.addSubregion(0x20000000, MemoryRegion.reservation('hole', 0x1000));
    root.addSubregion(0x30000000, MemoryRegion.alias('ram-alias', ram, 0x8000, 0x1000));
  });
  return { root, ram, rom, dev, calls };
}

test('a serialized snapshot answers every lookup like the flat view and shares RAM buffers', () => {
  const { root, ram } = sampleMap();
  const as = new AddressSpace(root, 'snap-test');
  try {
    const home = new HomeDevices({ realm: 0 });
    const view = as.flatView();
    const snap = new SnapshotView(serializeFlatView(view, as.epoch, home));
    assert.equal(snap.epoch, as.epoch);
    for (const a of [0, 0xfff, 0x1000, 0x1fff, 0x2000, 0x10000000, 0x100000ff, 0x10000100, 0x20000000, 0x30000000, 0x30000fff, 0x80000000, 0x8000ffff, 0x80010000]) {
      assert.equal(snap.findIndex(a), view.findIndex(a), `lookup of 0x${a.toString(16)}`);
    }
    const k = (a: number): number => snap.kinds[snap.findIndex(a)]!;
    assert.equal(k(0x80000000), SNAP_RAM);
    assert.equal(k(0x1000), SNAP_ROM);
    assert.equal(k(0x10000000), SNAP_IO);
    assert.equal(k(0x20000000), SNAP_RESERVED);
    // The alias window maps RAM offset 0x8000: the same bytes, not a copy.
    const i = snap.findIndex(0x30000010);
    snap.bytes[i]![0x10] = 0x5a;
    assert.equal(ram.ramBytes()[0x8010], 0x5a);
    assert.ok(snap.data.buffers[0] instanceof SharedArrayBuffer);
    // The device is named by (home realm, id), and the id leads back to the region.
    const j = snap.findIndex(0x10000000);
    assert.equal(snap.data.realm[j], 0);
    assert.equal(home.regionOf(snap.data.dev[j]!)?.name, 'dev');
  } finally {
    as.destroy();
  }
});

test('a snapshot carries the FlatView\'s own lookup tables, shared (not copied) when posted to another realm', async () => {
  const { root } = sampleMap();
  const as = new AddressSpace(root, 'snap-tables');
  try {
    const view = as.flatView();
    const data = serializeFlatView(view, as.epoch, new HomeDevices({ realm: 0 }));
    assert.equal(data.radix, view.radix, 'the radix is the view\'s, not a rebuilt one');
    assert.equal(data.starts, view.starts);
    for (const t of [data.starts, data.ends, data.kinds, data.radix, data.mixed]) assert.ok(t.buffer instanceof SharedArrayBuffer);
    // What a worker receives: a structured clone, whose tables alias the same memory.
    const { port1, port2 } = new MessageChannel();
    const got = new Promise<typeof data>((resolve) => port2.once('message', resolve));
    port1.postMessage(data);
    const copy = await got;
    port1.close();
    port2.close();
    const radix = view.radix as Int32Array;
    const saved = radix[0]!;
    radix[0] = saved + 7; // (only to observe sharing; restored at once)
    const seen = copy.radix[0];
    radix[0] = saved;
    assert.equal(seen, saved + 7, 'the posted radix shares the view\'s buffer');
    const snap = new SnapshotView(copy);
    for (const a of [0, 0x1000, 0x10000000, 0x10000100, 0x20000000, 0x30000000, 0x80000000, 0x80010000]) assert.equal(snap.findIndex(a), view.findIndex(a));
  } finally {
    as.destroy();
  }
});

/** A request port that serves in the same thread (what the explorer does). */
function directPort(home: HomeDevices, self = 1): RequestPort & { valLo: number; valHi: number } {
  const port = {
    self,
    valLo: 0,
    valHi: 0,
    request(_t: number, op: number, dev: number, off: number, size: number, lo: number, hi: number, attrs = memTxAttrs({})) {
      return home.serve(op, dev, off, size, lo, hi, attrs, self, port);
    },
  };
  return port;
}

test('realm memory: RAM direct, devices by request, unassigned and reservations all-ones, ROM writes dropped', () => {
  const { root, ram, calls } = sampleMap();
  const as = new AddressSpace(root, 'realm-mem');
  try {
    const home = new HomeDevices({ realm: 0 });
    const mem = new RealmPhysMemory(new SnapshotView(serializeFlatView(as.flatView(), as.epoch, home)), directPort(home));
    const a = memTxAttrs({ requesterId: 1 });
    assert.equal(mem.store(0x80000100, 8, 0x11223344, 0x55667788, a), MEMTX_OK);
    assert.equal(as.ldq(0x80000100), 0x5566778811223344n);
    assert.equal(mem.load(0x80000104, 2, a), MEMTX_OK);
    assert.equal(mem.valLo, 0x7788);
    assert.equal(mem.load(0x10000008, 4, a), MEMTX_OK);
    assert.equal(mem.valLo, 0xab08);
    assert.equal(mem.store(0x10000004, 4, 7, 0, a), MEMTX_OK);
    assert.deepEqual(calls, [8, 4, 7]);
    assert.equal(mem.load(0x20000000, 4, a), MEMTX_DECODE_ERROR);
    assert.equal(mem.valLo, 0xffffffff);
    assert.equal(mem.load(0x50000000, 8, a), MEMTX_DECODE_ERROR);
    assert.equal(mem.valHi, 0xffffffff);
    assert.equal(mem.store(0x1000, 4, 1, 0, a), MEMTX_OK);
    assert.equal(mem.load(0x1000, 4, a), MEMTX_OK);
    assert.equal(mem.valLo, 0);
    assert.equal(mem.load(0x10000000, 4, memTxAttrs({ memoryOnly: true })), MEMTX_ACCESS_ERROR);
    // A load straddling RAM's end: the RAM byte, then unassigned bytes.
    ram.ramBytes()[0xffff] = 0x42;
    assert.equal(mem.load(0x8000ffff, 2, a), MEMTX_DECODE_ERROR);
    assert.equal(mem.valLo, 0xff42);
    assert.deepEqual(mem.ramPtr(0x80000010, 4, true)?.base, 0x80000000);
    assert.equal(mem.ramPtr(0x1000, 4, true), null);
    assert.equal(mem.ramPtr(0x1000, 4, false)?.base, 0x1000);
  } finally {
    as.destroy();
  }
});

test('grace periods: an epoch ends when every live reader acknowledged it; exited and never-started realms are skipped', () => {
  const sh = SmpShared.create(4);
  const g = new GracePeriods(sh, [1, 2, 3]);
  sh.store(1, W_ACK, 5);
  sh.store(2, W_ACK, 5);
  sh.store(1, W_ALIVE, REALM_RUNNING);
  sh.store(2, W_ALIVE, REALM_RUNNING);
  g.publish(6);
  const done: number[] = [];
  g.after(6, () => done.push(6));
  g.after(5, () => done.push(5));
  assert.deepEqual(done, [5]);
  assert.equal(g.poll(), 0);
  sh.store(1, W_ACK, 6);
  assert.equal(g.poll(), 0);
  sh.store(2, W_ALIVE, REALM_EXITED);
  assert.equal(g.poll(), 1);
  assert.deepEqual(done, [5, 6]);
  assert.throws(() => g.publish(6), /does not advance/);
});

test('a removed device is served for requests resolved in the old view until the grace period ends, never after', () => {
  const { root, dev, calls } = sampleMap();
  const as = new AddressSpace(root, 'retire');
  try {
    const sh = SmpShared.create(2);
    const g = new GracePeriods(sh, [1]);
    const home = new HomeDevices({ realm: 0 });
    const pub = new SnapshotPublisher(as, home, g, sh);
    let latest = pub.current;
    pub.sinks.push((s) => (latest = s));
    const mem = new RealmPhysMemory(new SnapshotView(latest), directPort(home));
    sh.store(1, W_ALIVE, REALM_RUNNING);
    sh.store(1, W_ACK, mem.epoch);
    let unreachable = false;
    void home.whenUnreachable(dev).then(() => (unreachable = true));
    root.removeSubregion(dev);
    assert.ok(pub.maybePublish());
    const a = memTxAttrs({});
    // The reader still holds the old snapshot: its access completes against the device.
    assert.equal(mem.load(0x10000010, 4, a), MEMTX_OK);
    assert.equal(mem.valLo, 0xab10);
    g.poll();
    // It adopts the new snapshot at its next boundary and acknowledges.
    mem.adopt(new SnapshotView(latest));
    sh.store(1, W_ACK, mem.epoch);
    assert.equal(g.poll(), 1);
    const n = calls.length;
    assert.equal(mem.load(0x10000010, 4, a), MEMTX_DECODE_ERROR);
    assert.equal(mem.valLo, 0xffffffff);
    // A request still naming the retired id (a buggy requester) reaches nothing.
    const stale = directPort(home);
    assert.equal(stale.request(0, 1, 0, 0x10, 4, 0, 0, a), MEMTX_DECODE_ERROR);
    assert.equal(calls.length, n);
    assert.equal(home.staleRequests, 1);
    return Promise.resolve().then(() => assert.ok(unreachable));
  } finally {
    as.destroy();
  }
});

test('hart realms get the clock even when reading mtime is slower than a tick', () => {
  // A cold process reads mtime slowly (microseconds, not yet optimised code); hart realms must
  // still get a base and offset, or their time counts from the host's boot and jumps back
  // when the clock arrives later.
  const as = new AddressSpace(MemoryRegion.container('sys', 2 ** 32), 'clock');
  const smp = new SmpCoordinator({ as, harts: 1, log: () => {} });
  try {
    const t0 = monotonicNs();
    const clockNow = (): number => Math.floor(monotonicNs() - t0);
    let delta = 123_456;
    const mtimeAt = (ns: number): number => {
      const until = monotonicNs() + 3_000;
      while (monotonicNs() < until);
      return Math.floor(ns / 100) + delta;
    };
    smp.attachClock(clockNow, mtimeAt);
    const f64 = smp.shared.f64;
    // What a hart realm computes (hart-realm.ts: timeSource) against what the CLINT says.
    const hartTime = (): number => realmMtime(f64, monotonicNs());
    // Within the base's sampling error (half the closest pair of host reads, well under 5 us).
    const slack = 50;
    const before = Math.floor(clockNow() / 100) + delta;
    const t = hartTime();
    const after = Math.floor(clockNow() / 100) + delta;
    assert.ok(t >= before - slack && t <= after + slack, `hart time ${t} outside [${before}, ${after}]`);
    // A guest write to mtime changes the offset the realms see.
    delta += 1_000_000;
    smp.resumeAll();
    // Bracketed by two reads of the CLINT's time, as above: the host may deschedule the test
    // between any two reads for longer than the slack.
    const before2 = Math.floor(clockNow() / 100) + delta;
    const t2 = hartTime();
    const after2 = Math.floor(clockNow() / 100) + delta;
    assert.ok(t2 >= before2 - slack && t2 <= after2 + slack, `hart time ${t2} after the offset changed, CLINT [${before2}, ${after2}]`);
  } finally {
    as.destroy();
  }
});

test('I/O-thread realms: main-realm accesses through proxies, requester ids carried, a cross-realm cycle and a block on the main realm refused, a dying realm fails its requests', { timeout: 60_000 }, async () => {
  const root = MemoryRegion.container('sys', 2 ** 32);
  const as = new AddressSpace(root, 'iothreads');
  const smp = new SmpCoordinator({ as, harts: 0, ioThreads: 3, log: () => {} });
  const fatal: string[] = [];
  smp.onFatal = (m) => fatal.push(m);
  try {
    let mainCalls = 0;
    const mainDev = MemoryRegion.io('main-dev', 0x100, { read: () => (mainCalls++, 0x77) }, { owner: deviceOwner('main-dev') });
    root.addSubregion(0x10003000, mainDev);
    const [regs, a, b] = await Promise.all([
      smp.startIoThread(0, FIXTURE, { kind: 'regs' }),
      smp.startIoThread(1, FIXTURE, { kind: 'ping', name: 'pingA', peer: 0x10002004 }),
      smp.startIoThread(2, FIXTURE, { kind: 'ping', name: 'pingB', peer: 0x10001004 }),
    ]);
    memoryTransaction(() => {
      root.addSubregion(0x10000000, regs.get('regs')!);
      root.addSubregion(0x10001000, a.get('pingA')!);
      root.addSubregion(0x10002000, b.get('pingB')!);
    });
    // Let the I/O threads adopt the map that names each other.
    await new Promise((r) => setTimeout(r, 50));

    assert.equal(as.stl(0x10000004, 0xdeadbeef), MEMTX_OK);
    assert.equal(as.ldl(0x10000004), 0xdeadbeef);
    assert.equal(as.ldl(0x10000010, memTxAttrs({ requesterId: 42 })), 42);
    assert.equal(as.ldl(0x10000014), 1); // realms: 0 main, then harts (none here), then I/O threads
    assert.equal(as.load(0x10000001, 4, memTxAttrs({})), MEMTX_DECODE_ERROR); // the device's own valid check, in its realm

    // main -> A (write 0) -> B (read 4) -> A: closing the cycle is refused, nobody hangs.
    assert.equal(as.stl(0x10001000, 1), MEMTX_OK);
    assert.equal(as.ldl(0x10002010), 1, 'B refused one request that would close a cycle');
    assert.equal(as.ldl(0x1000200c), MEMTX_ACCESS_ERROR, "B's handler saw the refusal");
    assert.equal(as.ldl(0x10001008), 0xffffffff, 'A got the all-ones B read back');
    // Both stay usable.
    assert.equal(as.ldl(0x10001000), 0x1234);
    assert.equal(as.ldl(0x10002000), 0x1234);

    // An I/O thread may not block on the main realm.
    root.removeSubregion(a.get('pingA')!);
    root.addSubregion(0x10001000, MemoryRegion.alias('main-dev-at-a', mainDev, 0, 0x100));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(as.ldl(0x10002004), 0xffffffff);
    assert.equal(as.ldl(0x1000200c), MEMTX_ACCESS_ERROR);
    assert.equal(as.ldl(0x10002014), 1, 'refused by the lock order');
    assert.equal(mainCalls, 0);

    // A realm that dies: its pending request fails, later ones fail at once, and the machine is told.
    assert.equal(as.stl(0x10002020, 1), MEMTX_ERROR);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(as.load(0x10002000, 4, memTxAttrs({})), MEMTX_ERROR);
    assert.match(fatal.join('\n'), /I\/O thread realm 3: worker exited \(code 3\)/);
  } finally {
    await smp.stop();
    as.destroy();
  }
});

test('unrealize() of a device hart realms can still name completes only after their grace period', () => {
  const owner = deviceOwner('late');
  let calls = 0;
  const root = MemoryRegion.container('sys', 0x10000);
  const dev = MemoryRegion.io('late.mmio', 0x100, { read: () => (calls++, 0x77) }, { owner });
  root.addSubregion(0x1000, dev);
  const as = new AddressSpace(root, 'grace-unrealize');
  try {
    const shared = SmpShared.create(2);
    const grace = new GracePeriods(shared, [1]);
    const home = new HomeDevices({ realm: 0 });
    const pub = new SnapshotPublisher(as, home, grace, shared);
    const listener = { commit: () => void pub.maybePublish() };
    as.addListener(listener);
    const old = new SnapshotView(pub.current);
    shared.store(1, W_ACK, old.epoch);
    shared.store(1, W_ALIVE, REALM_RUNNING);
    const i = old.findIndex(0x1000);
    const id = old.data.dev[i]!;
    const done = unrealize(owner);
    assert.ok(as.epoch > old.epoch, 'the removal was published');
    grace.poll();
    assert.equal(done.done, false, 'hart realm 1 still holds a snapshot naming the device');
    // A request resolved in that snapshot arrives now: refused, the handler does not run.
    const out = { valLo: 0, valHi: 0 };
    assert.equal(home.serve(OP_DEV_READ, id, 0, 4, 0, 0, memTxAttrs({}), 1, out), MEMTX_DECODE_ERROR);
    assert.equal(out.valLo, 0xffffffff);
    assert.equal(calls, 0);
    shared.store(1, W_ACK, as.epoch);
    grace.poll();
    assert.equal(done.done, true, 'complete once the realm acknowledged the removing epoch');
    assert.equal(home.reachable(dev), false);
    as.removeListener(listener);
  } finally {
    as.destroy();
  }
});

test('an IPI wakes its target hart realm even when its MSIP is already set (a wfi spinner naps until then)', () => {
  const sh = SmpShared.create(3);
  const msip = new SharedMsip(hartLines(sh, 2));
  const kicks = (h: number): number => Atomics.load(sh.i32, sh.w(hartRealm(h), W_KICK));
  const k0 = kicks(1);
  msip.set(1, 1);
  assert.equal(msip.get(1), 1);
  assert.equal(kicks(1), k0 + 1);
  msip.set(1, 1);
  assert.equal(kicks(1), k0 + 2, 'a second IPI rings again');
  assert.equal(kicks(0), 0, 'no other hart is woken');
  msip.set(1, 0);
  assert.equal(msip.get(1), 0);
  assert.equal(kicks(1), k0 + 3);
  msip.set(1, 0);
  assert.equal(kicks(1), k0 + 3, 'clearing a clear bit wakes nobody');
});
