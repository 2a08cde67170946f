import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import {
  VirtioSerial,
  VIRTIO_CONSOLE_CONSOLE_PORT,
  VIRTIO_CONSOLE_DEVICE_ADD,
  VIRTIO_CONSOLE_DEVICE_READY,
  VIRTIO_CONSOLE_PORT_NAME,
  VIRTIO_CONSOLE_PORT_OPEN,
  VIRTIO_CONSOLE_PORT_READY,
} from '../../../src/hw/virtio/virtio-serial.js';
import { deps, initDevice, makeRig, notify, RAM_BASE, settle, type DriverQueue } from './driver.js';
import { addQueue, readBytes } from './multiqueue.js';

const BUF = RAM_BASE + 0x100000;

function ctl(id: number, event: number, value: number): Uint8Array {
  const m = new Uint8Array(8);
  const dv = new DataView(m.buffer);
  dv.setUint32(0, id, true);
  dv.setUint16(4, event, true);
  dv.setUint16(6, value, true);
  return m;
}

test('virtio-serial: multiport handshake (ports announced, console flagged, names sent), data both ways per port', async () => {
  const rig = makeRig(1, false);
  const dev = new VirtioSerial(deps(rig), 4);
  const con = new PipeBackend();
  const port = new PipeBackend();
  dev.addPort(con, { console: true });
  const p1 = dev.addPort(port, { console: false, name: 'org.tsvmm.test' });
  assert.equal(p1.id, 1);
  rig.transports[0]!.plug(dev);
  const q: DriverQueue[] = [initDevice(rig, 0, RAM_BASE + 0x10000, 8, 0b10 /* MULTIPORT */)];
  for (let i = 1; i < 6; i++) q.push(addQueue(rig, 0, i, RAM_BASE + 0x10000 + i * 0x2000));
  let scratch = BUF;
  const post = (qi: number, len: number): number => {
    const a = scratch;
    scratch += len;
    q[qi]!.add([{ addr: a, len, write: true }]);
    notify(rig, 0, qi);
    return a;
  };
  const send = (qi: number, bytes: Uint8Array): void => {
    const a = scratch;
    scratch += bytes.length;
    rig.as.write(a, bytes);
    q[qi]!.add([{ addr: a, len: bytes.length }]);
    notify(rig, 0, qi);
  };
  // control receive buffers, then DEVICE_READY
  const ctlBufs = Array.from({ length: 8 }, () => post(2, 64));
  send(3, ctl(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
  await settle(rig, () => q[2]!.usedIdx() >= 2);
  const msgs: Array<[number, number, number, string]> = [];
  const drain = (): void => {
    for (const [head, len] of q[2]!.takeUsed()) {
      const b = readBytes(rig, ctlBufs[head]!, len);
      const dv = new DataView(b.buffer);
      msgs.push([dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true), new TextDecoder().decode(b.subarray(8))]);
    }
  };
  drain();
  assert.deepEqual(msgs.splice(0), [[0, VIRTIO_CONSOLE_DEVICE_ADD, 1, ''], [1, VIRTIO_CONSOLE_DEVICE_ADD, 1, '']]);
  send(3, ctl(0, VIRTIO_CONSOLE_PORT_READY, 1));
  send(3, ctl(1, VIRTIO_CONSOLE_PORT_READY, 1));
  await settle(rig, () => q[2]!.usedIdx() >= 6);
  drain();
  assert.deepEqual(msgs.splice(0), [
    [0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, ''],
    [0, VIRTIO_CONSOLE_PORT_OPEN, 1, ''],
    [1, VIRTIO_CONSOLE_PORT_NAME, 1, 'org.tsvmm.test'],
    [1, VIRTIO_CONSOLE_PORT_OPEN, 1, ''],
  ]);
  // guest -> host on port 1 (queue 5) and port 0 (queue 1): each reaches its own backend
  send(5, new TextEncoder().encode('to port one'));
  send(1, new TextEncoder().encode('to the console'));
  await settle(rig, () => q[5]!.usedIdx() === 1 && q[1]!.usedIdx() === 1);
  assert.equal(port.outputText(), 'to port one');
  assert.equal(con.outputText(), 'to the console');
  // host -> guest: input before buffers waits, nothing is lost, it lands on the right port
  port.feed('early input');
  const rx = post(4, 64);
  await settle(rig, () => q[4]!.usedIdx() === 1);
  const [[, n]] = q[4]!.takeUsed() as [[number, number]];
  assert.equal(new TextDecoder().decode(readBytes(rig, rx, n)), 'early input');
  assert.equal(q[0]!.usedIdx(), 0);
  // control messages about ports that do not exist are logged, not fatal
  send(3, ctl(9, VIRTIO_CONSOLE_PORT_READY, 1));
  await settle(rig, () => rig.logs.some((l) => /port 9/.test(l)));
  assert.equal(dev.status & 64, 0);
});
