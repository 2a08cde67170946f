import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OP_REQUEST,
  OP_RESPONSE,
  OP_RST,
  OP_RW,
  parseVsockHeader,
  VirtioVsock,
  VSOCK_HDR,
  type VsockHeader,
} from '../../../src/hw/virtio/virtio-vsock.js';
import { deps, initDevice, makeRig, notify, RAM_BASE, settle, type DriverQueue } from './driver.js';
import { addQueue, readBytes } from './multiqueue.js';

const GUEST_CID = 42;

function pkt(h: Partial<VsockHeader>, data = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(VSOCK_HDR + data.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, h.srcCid ?? GUEST_CID, true);
  dv.setUint32(8, h.dstCid ?? 2, true);
  dv.setUint32(16, h.srcPort ?? 0, true);
  dv.setUint32(20, h.dstPort ?? 0, true);
  dv.setUint32(24, data.length, true);
  dv.setUint16(28, h.type ?? 1, true);
  dv.setUint16(30, h.op ?? 0, true);
  dv.setUint32(32, h.flags ?? 0, true);
  dv.setUint32(36, h.bufAlloc ?? 65536, true);
  dv.setUint32(40, h.fwdCnt ?? 0, true);
  b.set(data, VSOCK_HDR);
  return b;
}

test('vhost-vsock: host CONNECT/OK to a guest port, guest connections to <uds>_<port>, RST for nobody, data both ways', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-vsock-'));
  const uds = join(dir, 'v.sock');
  const rig = makeRig(1, false);
  const dev = new VirtioVsock(deps(rig), { guestCid: GUEST_CID, uds });
  await dev.listen();
  rig.transports[0]!.plug(dev);
  const q: DriverQueue[] = [initDevice(rig, 0, RAM_BASE + 0x10000, 16)];
  q.push(addQueue(rig, 0, 1, RAM_BASE + 0x12000, 16), addQueue(rig, 0, 2, RAM_BASE + 0x14000, 16));
  assert.equal(new DataView(dev.config.buffer).getUint32(0, true), GUEST_CID);
  let scratch = RAM_BASE + 0x100000;
  const rxAddr = new Map<number, number>();
  const postRx = (): void => {
    const a = scratch;
    scratch += 4096;
    rxAddr.set(q[0]!.add([{ addr: a, len: 4096, write: true }]), a);
    notify(rig, 0, 0);
  };
  for (let i = 0; i < 8; i++) postRx();
  const received: Array<{ h: VsockHeader; data: string }> = [];
  const take = (): void => {
    for (const [head, len] of q[0]!.takeUsed()) {
      const b = readBytes(rig, rxAddr.get(head)!, len);
      received.push({ h: parseVsockHeader(b), data: new TextDecoder().decode(b.subarray(VSOCK_HDR)) });
      postRx();
    }
  };
  const fromGuest = (b: Uint8Array): void => {
    const a = scratch;
    scratch += b.length;
    rig.as.write(a, b);
    q[1]!.add([{ addr: a, len: b.length }]);
    notify(rig, 0, 1);
  };
  const wait = async (cond: () => boolean): Promise<void> => settle(rig, () => (take(), cond()));

  // host -> guest
  const host = createConnection(uds);
  let hostGot = '';
  host.on('data', (d) => (hostGot += d.toString()));
  await new Promise((r) => host.once('connect', r));
  host.write('CONNECT 1234\n');
  await wait(() => received.length === 1);
  const req = received.shift()!.h;
  assert.equal(req.op, OP_REQUEST);
  assert.equal(req.dstPort, 1234);
  assert.equal(req.dstCid, GUEST_CID);
  fromGuest(pkt({ srcPort: 1234, dstPort: req.srcPort, op: OP_RESPONSE }));
  await wait(() => hostGot.includes('\n'));
  assert.equal(hostGot, `OK ${req.srcPort}\n`);
  host.write('ping');
  await wait(() => received.some((r) => r.h.op === OP_RW));
  assert.equal(received.find((r) => r.h.op === OP_RW)!.data, 'ping');
  received.length = 0;
  fromGuest(pkt({ srcPort: 1234, dstPort: req.srcPort, op: OP_RW }, new TextEncoder().encode('pong')));
  await wait(() => hostGot.endsWith('pong'));

  // guest -> host: <uds>_5000
  let accepted: Socket | null = null;
  let acceptedGot = '';
  const srv = createServer((s) => {
    accepted = s;
    s.on('data', (d) => (acceptedGot += d.toString()));
  });
  await new Promise<void>((r) => srv.listen(`${uds}_5000`, r));
  fromGuest(pkt({ srcPort: 777, dstPort: 5000, op: OP_REQUEST }));
  await wait(() => received.some((r) => r.h.op === OP_RESPONSE));
  const resp = received.find((r) => r.h.op === OP_RESPONSE)!.h;
  assert.equal(resp.dstPort, 777);
  assert.equal(resp.srcPort, 5000);
  fromGuest(pkt({ srcPort: 777, dstPort: 5000, op: OP_RW }, new TextEncoder().encode('hello host')));
  await wait(() => acceptedGot === 'hello host' && accepted !== null);
  received.length = 0;
  accepted!.write('hello guest');
  await wait(() => received.some((r) => r.h.op === OP_RW && r.data === 'hello guest'));

  // nobody listens on <uds>_6000: RST
  received.length = 0;
  fromGuest(pkt({ srcPort: 778, dstPort: 6000, op: OP_REQUEST }));
  await wait(() => received.some((r) => r.h.op === OP_RST && r.h.dstPort === 778));
  // a packet claiming another source CID is dropped; the device goes on
  const before = dev.dropped;
  fromGuest(pkt({ srcCid: 7, srcPort: 1, dstPort: 2, op: OP_REQUEST }));
  fromGuest(new Uint8Array(10));
  await wait(() => dev.dropped === before + 2);
  assert.equal(dev.status & 64, 0);

  host.destroy();
  srv.close();
  dev.close();
});
