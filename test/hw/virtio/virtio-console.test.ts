import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import { VirtioConsole } from '../../../src/hw/virtio/virtio-console.js';
import { makeRig, deps, initDevice, notify, settle, mmioWrite, MMIO_BASE, RAM_BASE, DriverQueue } from './driver.js';

const RX_RING = RAM_BASE + 0x10000;
const TX_RING = RAM_BASE + 0x14000;
const BUF = RAM_BASE + 0x30000;

test('virtio-console: transmit reaches the backend; input waits for receive buffers and is not lost', async () => {
  const rig = makeRig(1, false);
  const pipe = new PipeBackend();
  const con = new VirtioConsole(deps(rig), pipe);
  rig.transports[0]!.plug(con);
  const rx = initDevice(rig, 0, RX_RING, 8);
  // queue 1 (transmit)
  const base = MMIO_BASE;
  mmioWrite(rig.as, base, 0x30, 1);
  mmioWrite(rig.as, base, 0x38, 8);
  const tx = new DriverQueue(rig.as, 8, TX_RING, TX_RING + 128, TX_RING + 0x1000);
  mmioWrite(rig.as, base, 0x80, tx.desc);
  mmioWrite(rig.as, base, 0x90, tx.avail);
  mmioWrite(rig.as, base, 0xa0, tx.used);
  mmioWrite(rig.as, base, 0x44, 1);

  rig.as.write(BUF, new TextEncoder().encode('hello, host\n'));
  tx.add([{ addr: BUF, len: 12 }]);
  notify(rig, 0, 1);
  await settle(rig, () => tx.usedIdx() === 1);
  assert.equal(pipe.outputText(), 'hello, host\n');

  // Input before any receive buffer is posted is held, then delivered.
  pipe.feed('typed early');
  rx.add([{ addr: BUF + 0x1000, len: 64, write: true }]);
  notify(rig, 0, 0);
  await settle(rig, () => rx.usedIdx() === 1);
  const [[, len]] = rx.takeUsed() as [[number, number]];
  const got = new Uint8Array(len);
  rig.as.read(BUF + 0x1000, got);
  assert.equal(new TextDecoder().decode(got), 'typed early');
});
