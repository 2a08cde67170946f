import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { connect, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, constants, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharDevSpecError, type CharFrontend, type CharEvent } from '../../../src/hw/char/chardev.js';
import { ChardevRegistry } from '../../../src/hw/char/chardev-registry.js';
import { SocketChardev, type CharSession } from '../../../src/hw/char/chardev-socket.js';
import { RingBufChardev } from '../../../src/hw/char/chardev-extra.js';
import { parseChardev } from '../../../src/hw/char/chardev-spec.js';

class Sink implements CharFrontend {
  got: number[] = [];
  events: CharEvent[] = [];
  canReceive(): number { return 1 << 20; }
  receive(b: Uint8Array): void { this.got.push(...b); }
  event(e: CharEvent): void { this.events.push(e); }
  text(): string { return Buffer.from(this.got).toString('latin1'); }
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
};

function readAll(sock: Socket): { text: () => string } {
  let s = '';
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => (s += d));
  return { text: () => s };
}

test('registry: chardevs by id; one frontend each unless mux=on; duplicate ids refused', () => {
  const reg = new ChardevRegistry();
  reg.add(parseChardev('null,id=n0'));
  reg.add(parseChardev('ringbuf,id=r0,size=16'));
  assert.throws(() => reg.add(parseChardev('null,id=n0')), (e: unknown) => e instanceof CharDevSpecError && e.reason === 'duplicate-id');
  const be = reg.claim('r0', 'virtio-serial0');
  assert.throws(() => reg.claim('r0', 'serial0'), /in use/);
  assert.throws(() => reg.claim('nope', 'serial0'), /not found/);
  for (const c of 'hello world, this overflows') be.write(c.charCodeAt(0));
  const rb = reg.get('r0')!.backend as RingBufChardev;
  // A 16-byte ring keeps the newest 16 bytes.
  assert.equal(Buffer.from(rb.read()).toString(), ', this overflows');
  assert.equal(rb.read().length, 0);
  assert.deepEqual(reg.query().map((q) => q.label), ['n0', 'r0']);
  reg.closeAll();
});

test('socket chardev: unix server with a byte frontend, then a client-mode chardev connecting to it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-chr-'));
  const path = join(dir, 's.sock');
  const reg = new ChardevRegistry();
  reg.add(parseChardev(`socket,id=srv,path=${path},server=on,wait=off`));
  const fe = new Sink();
  reg.claim('srv', 'serial0').attach(fe);
  await reg.ready();
  const reg2 = new ChardevRegistry();
  reg2.add(parseChardev(`socket,id=cli,path=${path}`));
  await reg2.ready();
  const fe2 = new Sink();
  reg2.claim('cli', 'port').attach(fe2);
  await until(() => fe.events.includes('opened'));
  const srv = reg.get('srv')!.backend;
  for (const c of 'to client') srv.write(c.charCodeAt(0));
  await until(() => fe2.text() === 'to client');
  const cli = reg2.get('cli')!.backend;
  for (const c of 'to server') cli.write(c.charCodeAt(0));
  await until(() => fe.text() === 'to server');
  assert.equal(reg.query()[0]!['frontend-open'], true);
  reg2.closeAll();
  await until(() => fe.events.includes('closed'));
  reg.closeAll();
});

test('socket chardev: wait=on holds `ready` until the first client; client mode to a closed port rejects', async () => {
  const be = new SocketChardev({ addr: { type: 'inet', host: '127.0.0.1', port: 0 }, server: true, wait: true });
  const port = await be.listening;
  let ready = false;
  void be.ready.then(() => (ready = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ready, false);
  const s = connect(port, '127.0.0.1');
  await be.ready;
  s.destroy();
  be.close();
  const cli = new SocketChardev({ addr: { type: 'inet', host: '127.0.0.1', port }, server: false, wait: false });
  await assert.rejects(cli.ready, (e: unknown) => e instanceof CharDevSpecError && e.reason === 'host-error');
  cli.close();
});

test('socket chardev: session frontends get every client as its own session; a client that never reads is cut off', async () => {
  const reg = new ChardevRegistry();
  reg.add(parseChardev('socket,id=m,host=127.0.0.1,port=0,server=on,wait=off'));
  const sessions: CharSession[] = [];
  const closed: string[] = [];
  reg.claimSessions('m', 'monitor', {
    open: (s) => {
      sessions.push(s);
      s.write(Buffer.from(`hi ${sessions.length}\n`));
      return { data: (b) => s.write(b), closed: () => closed.push(s.peer) };
    },
  });
  await reg.ready();
  const port = await (reg.get('m')!.backend as SocketChardev).listening;
  const clients = Array.from({ length: 5 }, () => connect(port, '127.0.0.1'));
  const outs = clients.map(readAll);
  await until(() => outs.every((o) => o.text().startsWith('hi ')));
  clients[2]!.write('echo');
  await until(() => outs[2]!.text().endsWith('echo'));
  clients[1]!.destroy();
  await until(() => closed.length === 1);
  // A reader that stops reading: output beyond the bound disconnects it instead of growing without end.
  clients[0]!.pause();
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < 16 && !clients[0]!.destroyed && closed.length < 2; i++) {
    sessions[0]!.write(big);
    await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => closed.length === 2);
  for (const c of clients) c.destroy();
  reg.closeAll();
});

test('mux on stdio: Ctrl-A c moves input between frontends; output from both goes out', async () => {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  const chunks: Uint8Array[] = [];
  const reg = new ChardevRegistry({ stdin, stdout: { write: (b: Uint8Array) => chunks.push(b) } });
  reg.add(parseChardev('stdio,id=con,mux=on'));
  const guest = new Sink();
  const mon = new Sink();
  reg.claim('con', 'serial0').attach(guest);
  const monPort = reg.claim('con', 'monitor');
  monPort.attach(mon);
  stdin.write('ab\x01cmon\x01cz');
  await until(() => guest.got.length === 3);
  assert.equal(guest.text(), 'abz');
  assert.equal(mon.text(), 'mon');
  monPort.write(0x4d);
  reg.flushAll();
  assert.equal(Buffer.concat(chunks).toString(), 'M');
  reg.closeAll();
});

test('pipe chardev: reads PATH.in, writes PATH.out (FIFOs)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-pipe-'));
  const p = join(dir, 'p');
  execFileSync('mkfifo', [`${p}.in`, `${p}.out`]);
  const reg = new ChardevRegistry();
  reg.add(parseChardev(`pipe,id=p,path=${p}`));
  const fe = new Sink();
  const be = reg.claim('p', 'serial0');
  be.attach(fe);
  const w = openSync(`${p}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
  writeFileSync(w, 'in');
  closeSync(w);
  await until(() => fe.text() === 'in');
  const r = openSync(`${p}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
  for (const c of 'out') be.write(c.charCodeAt(0));
  be.flush();
  const buf = Buffer.alloc(16);
  let n = 0;
  for (let i = 0; i < 200 && n === 0; i++) {
    try { n = readSync(r, buf); } catch { /* EAGAIN */ }
    if (n === 0) await new Promise((res) => setTimeout(res, 5));
  }
  closeSync(r);
  assert.equal(buf.subarray(0, n).toString(), 'out');
  reg.closeAll();
});
