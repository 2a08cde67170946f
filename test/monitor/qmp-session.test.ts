/**
 * QMP against a machine in this process: bad input of every kind gets a
 * protocol error and the session (and the guest) go on; many clients at
 * once; a client leaving mid-command; stop/cont exactness; hot-plug behind
 * a bridge with DEVICE_DELETED; BLOCK_IO_ERROR from the block layer's hook.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { QmpClient, type Msg } from './qmp-client.js';
import { startInProcess, sleep, until, type InProcess } from './helpers.js';
import { MAX_MESSAGE } from '../../src/monitor/qmp-parser.js';

async function negotiated(m: InProcess): Promise<QmpClient> {
  const c = await QmpClient.connect(m.qmpPath);
  const g = (await c.next()) as Msg;
  assert.ok('QMP' in g);
  assert.deepEqual((await c.step({ execute: 'qmp_capabilities' })).reply, { return: {} });
  return c;
}

const errOf = (r: unknown): { class: string; desc: string } => (r as { error: { class: string; desc: string } }).error;

test('QMP in process: bad input, many clients, disconnects, stop/cont, hot-plug, block errors', { timeout: 120_000 }, async (t) => {
  const m = await startInProcess([{ driver: 'pci-bridge', props: { id: 'br1', chassis_nr: '1' } }]);
  try {
    const c = await negotiated(m);

    await t.test('oversized and deeply nested messages are dropped as they stream, with one error each', async () => {
      const big = `{"execute":"query-status","arguments":{"x":"${'A'.repeat(MAX_MESSAGE + 10)}"}}`;
      const r1 = await c.step(big);
      assert.match(errOf(r1.reply).desc, /too large/);
      const deep = '['.repeat(100) + ']'.repeat(100);
      assert.match(errOf((await c.step(deep)).reply).desc, /nested too deeply/);
      // Binary garbage and stray values: an error each, never a crash; then the session goes on.
      c.send(Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x7d, 0x5d, 0x22, 0x0a, 0x22]).toString('latin1') + ' 12 {"execute":"query-status","id":"after"}');
      for (;;) {
        const r = (await c.next()) as Msg;
        if (r.id === 'after') {
          assert.deepEqual(r.return, { status: 'running', singlestep: false, running: true });
          break;
        }
        assert.equal(errOf(r).class, 'GenericError');
      }
    });

    await t.test('a burst of requests: every one answered in order (some told to wait when the queue is full)', async () => {
      const n = 300;
      c.send(Array.from({ length: n }, (_, i) => JSON.stringify({ execute: 'query-name', id: i })).join('\n'));
      const ids: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const r = (await c.next()) as Msg;
        ids.push(r.id);
        assert.ok('return' in r || (r.error as Msg).class === 'GenericError');
      }
      assert.equal(ids.length, n);
      assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i));
    });

    await t.test('many clients at once each get their own session', async () => {
      const clients = await Promise.all(Array.from({ length: 24 }, () => negotiated(m)));
      const replies = await Promise.all(clients.map((x) => x.step({ execute: 'query-name' })));
      for (const r of replies) assert.deepEqual(r.reply, { return: { name: 'inproc' } });
      for (const x of clients) x.close();
    });

    await t.test('a client that leaves mid-command or mid-message does not disturb the others', async () => {
      for (let i = 0; i < 5; i++) {
        const s = connect(m.qmpPath);
        await new Promise((r) => s.once('connect', r));
        s.write('{"execute":"qmp_capabilities"}{"execute":"human-monitor-command","arguments":{"command-line":"info registers"}}{"execute":"query-sta');
        s.destroy();
      }
      const r = await c.step({ execute: 'query-status' });
      assert.equal((r.reply as { return: { status: string } }).return.status, 'running');
    });

    await t.test('stop parks the hart (the counter stands still), cont lets it go on', async () => {
      await until(() => m.counter() > 0n, 'the guest to count');
      const r = await c.step({ execute: 'stop' });
      assert.deepEqual(r.events.map((e) => e.event), ['STOP']);
      const a = m.counter();
      const pc1 = (await c.step({ execute: 'human-monitor-command', arguments: { 'command-line': 'info registers' } })).reply;
      await sleep(50);
      assert.equal(m.counter(), a);
      const pc2 = (await c.step({ execute: 'human-monitor-command', arguments: { 'command-line': 'info registers' } })).reply;
      assert.deepEqual(pc2, pc1);
      const now = m.machine.loop.clock.now();
      await sleep(20);
      assert.equal(m.machine.loop.clock.now(), now, 'the machine clock stands still while stopped');
      const rc = await c.step({ execute: 'cont' });
      assert.deepEqual(rc.events.map((e) => e.event), ['RESUME']);
      await until(() => m.counter() > a, 'the guest to count again');
    });

    await t.test('hot-plug behind a pci-bridge; device_del announces DEVICE_DELETED', async () => {
      const add = await c.step({ execute: 'device_add', arguments: { driver: 'virtio-rng-pci', id: 'hot', bus: 'br1', addr: '0x3' } });
      assert.deepEqual(add.reply, { return: {} });
      const pci = (await c.step({ execute: 'query-pci' })).reply as { return: { devices: Msg[] }[] };
      const br = pci.return[0]!.devices.find((d) => d.qdev_id === 'br1') as { pci_bridge: { devices: Msg[] } };
      assert.deepEqual(br.pci_bridge.devices.map((d) => [d.qdev_id, d.slot]), [['hot', 3]]);
      const dup = await c.step({ execute: 'device_add', arguments: { driver: 'virtio-rng-pci', id: 'hot', bus: 'br1', addr: '4' } });
      assert.equal(errOf(dup.reply).desc, "Duplicate device ID 'hot'");
      const del = await c.step({ execute: 'device_del', arguments: { id: 'hot' } });
      assert.deepEqual(del.reply, { return: {} });
      const ev = del.events.length ? del.events[0]! : ((await c.next()) as Msg);
      assert.equal(ev.event, 'DEVICE_DELETED');
      assert.deepEqual(ev.data, { device: 'hot', path: '/machine/peripheral/hot' });
      const gone = await c.step({ execute: 'device_del', arguments: { id: 'hot' } });
      assert.equal(errOf(gone.reply).class, 'DeviceNotFound');
      const hmp = await c.step({ execute: 'human-monitor-command', arguments: { 'command-line': 'device_del br1' } });
      assert.equal((hmp.reply as { return: string }).return, "Error: Bus 'pcie.0' does not support hotplugging\r\n");
    });

    await t.test('a host I/O error in the block layer reaches every session as BLOCK_IO_ERROR', async () => {
      m.inventory.ctx.onBlockIoError!('d0', 'write', Object.assign(new Error('No space left on device'), { code: 'ENOSPC' }));
      const ev = (await c.next()) as Msg;
      assert.equal(ev.event, 'BLOCK_IO_ERROR');
      assert.deepEqual(ev.data, { device: 'd0', 'node-name': '#block-d0', operation: 'write', action: 'report', nospace: true, reason: 'No space left on device' });
    });

    await t.test('quit: SHUTDOWN, the reply, then the machine ends', async () => {
      const r = await c.step({ execute: 'quit' });
      assert.deepEqual(r.events.map((e) => [e.event, e.data]), [['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }]]);
      assert.deepEqual(r.reply, { return: {} });
      assert.equal(await m.run, 0);
    });
    c.close();
  } finally {
    m.machine.quit(0);
    await m.run;
  }
});
