/**
 * An I/O-thread realm: devices that opted out of the main realm live here.
 * The realm answers requests aimed at it (from hart realms, the main realm or
 * other I/O threads), adopts new flat-view snapshots between requests, and
 * sleeps on its doorbell when idle. Its devices reach other realms' devices
 * through its own request slot; as a device realm it may not block on the
 * main realm (the mailbox refuses), and a cycle of blocking requests through
 * it is refused where it would close.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { MemoryRegion } from '../../memory/region.js';
import { deviceOwner } from '../../memory/owner.js';
import { HomeDevices } from './home-devices.js';
import { MailboxClient, MailboxServer } from './mailbox.js';
import { RealmPhysMemory } from './realm-memory.js';
import { REALM_EXITED, REALM_RUNNING, SmpShared, W_ACK, W_ALIVE } from './shared.js';
import { SnapshotView, type SnapshotData } from './snapshot.js';
import type { IoThreadModule, IoThreadReady } from './io-thread-types.js';

export interface IoThreadWorkerData {
  /** Set by the Node host for the worker bootstrap shim. */
  entry?: string;
  shared: SharedArrayBuffer;
  realms: number;
  realm: number;
  port: MessagePort;
  snapshot: SnapshotData;
  module: string;
  options: Record<string, unknown>;
}

const d = workerData as IoThreadWorkerData;
const sh = new SmpShared(d.shared, d.realms);
const log = (l: string): void => {
  process.stderr.write(l + '\n');
};
// Whatever ends this thread (process.exit from a device, a throw), peers stop waiting for it.
process.on('exit', () => Atomics.store(sh.i32, sh.w(d.realm, W_ALIVE), REALM_EXITED));
try {
  const client = new MailboxClient(sh, d.realm, { deviceRealm: true, log });
  const home = new HomeDevices({ realm: d.realm, log });
  const mem = new RealmPhysMemory(new SnapshotView(d.snapshot), client, home);
  const server = new MailboxServer(sh, d.realm, home);
  const mod = (await import(d.module)) as IoThreadModule;
  const specs = mod.createDevices({ realm: d.realm, mem, options: d.options, log, requests: client });
  const ready: IoThreadReady = { kind: 'ready', devices: [] };
  for (const s of specs) {
    const mr = MemoryRegion.io(s.name, s.size, s.ops, { owner: deviceOwner(s.name) });
    ready.devices.push({ name: s.name, size: s.size, dev: home.locate(mr).dev });
  }
  Atomics.store(sh.i32, sh.w(d.realm, W_ACK), mem.epoch);
  Atomics.store(sh.i32, sh.w(d.realm, W_ALIVE), REALM_RUNNING);
  parentPort?.postMessage(ready);
  while (!sh.stopping) {
    if (sh.publishedEpoch() !== mem.epoch) {
      let latest: SnapshotData | null = null;
      for (let m = receiveMessageOnPort(d.port); m !== undefined; m = receiveMessageOnPort(d.port)) {
        latest = (m.message as { data: SnapshotData }).data;
      }
      if (latest !== null && latest.epoch > mem.epoch) mem.adopt(new SnapshotView(latest));
      Atomics.store(sh.i32, sh.w(d.realm, W_ACK), mem.epoch);
    }
    if (server.poll() === 0) server.waitForWork(50);
  }
} catch (e) {
  parentPort?.postMessage({ kind: 'error', message: `I/O thread realm ${d.realm}: ${e instanceof Error ? e.message : String(e)}` });
  process.exitCode = 1;
} finally {
  Atomics.store(sh.i32, sh.w(d.realm, W_ALIVE), REALM_EXITED);
  d.port.close();
}
