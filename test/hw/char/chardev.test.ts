import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  StdioBackend, PipeBackend, FileBackend, CharDevSpecError, MUX_HELP,
  type CharFrontend,
} from '../../../src/hw/char/chardev.js';
import { TcpServerBackend } from '../../../src/hw/char/chardev-socket.js';
import { createCharBackend } from '../../../src/hw/char/chardev-registry.js';

class Sink implements CharFrontend {
  got: number[] = [];
  room = 1000;
  canReceive(): number { return this.room - this.got.length; }
  receive(b: Uint8Array): void { this.got.push(...b); }
}

function fakeTty(isTTY: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode(m: boolean): void; raw: boolean[] };
  s.isTTY = isTTY;
  s.raw = [];
  s.setRawMode = (m: boolean) => { s.raw.push(m); };
  return s;
}

function collect() {
  const chunks: Uint8Array[] = [];
  return { chunks, write: (b: Uint8Array) => { chunks.push(b); }, text: () => Buffer.concat(chunks).toString('latin1') };
}

const tick = () => new Promise((r) => setImmediate(r));

test('chardev: queue respects canReceive and delivers later', () => {
  const be = new PipeBackend();
  const fe = new Sink();
  fe.room = 2;
  be.attach(fe);
  be.feed('hello');
  assert.deepEqual(fe.got, [0x68, 0x65]);
  fe.room = 10;
  be.acceptInput();
  assert.equal(Buffer.from(fe.got).toString(), 'hello');
});

test('chardev: stdio on a TTY: raw mode, Ctrl-A x quits, h helps, a sends Ctrl-A', async () => {
  const stdin = fakeTty(true);
  const out = collect();
  let quit = 0;
  const be = new StdioBackend({ stdin, stdout: out, onQuit: () => quit++ });
  const fe = new Sink();
  be.attach(fe);
  assert.deepEqual(stdin.raw, [true]);
  stdin.write(Buffer.from([0x61, 0x01, 0x61, 0x62, 0x01, 0x68, 0x01, 0x01, 0x01, 0x7a, 0x63]));
  await tick();
  assert.deepEqual(fe.got, [0x61, 0x01, 0x62, 0x01, 0x63]);
  assert.ok(out.text().includes(MUX_HELP));
  assert.equal(quit, 0);
  stdin.write(Buffer.from([0x01, 0x78]));
  await tick();
  assert.equal(quit, 1);
  be.write(0x41);
  be.close();
  assert.deepEqual(stdin.raw, [true, false]);
  assert.ok(out.text().endsWith('A'));
});

test('chardev: stdio with pipes passes bytes unchanged and buffers output', async () => {
  const stdin = fakeTty(false);
  const out = collect();
  let quit = 0;
  const be = new StdioBackend({ stdin, stdout: out, onQuit: () => quit++ });
  const fe = new Sink();
  be.attach(fe);
  stdin.write(Buffer.from([0x01, 0x78, 0x41]));
  await tick();
  assert.deepEqual(fe.got, [0x01, 0x78, 0x41]);
  assert.equal(quit, 0);
  for (const c of 'out') be.write(c.charCodeAt(0));
  assert.equal(out.chunks.length, 0, 'buffered until the event loop turns');
  await tick();
  assert.equal(out.text(), 'out');
  assert.deepEqual(stdin.raw, []);
  be.close();
});

test('chardev: stdio whose stdout fails (EPIPE) reports it once and drops the output after it', async () => {
  const stdin = fakeTty(false);
  const stdout = new PassThrough();
  const written: string[] = [];
  stdout.on('data', (b: Buffer) => written.push(b.toString('latin1')));
  const logs: string[] = [];
  const be = new StdioBackend({ stdin, stdout, log: (m) => logs.push(m) });
  be.write(0x61);
  await tick();
  assert.deepEqual(written, ['a']);
  // The reader went away: the stream fails (an unheard 'error' would throw out of the emitter).
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  stdout.emit('error', epipe);
  stdout.emit('error', epipe);
  be.write(0x62);
  await tick();
  assert.deepEqual(written, ['a']);
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /console output failed \(EPIPE\)/);
  be.close();
});

test('chardev: file backend writes guest output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-chardev-'));
  const path = join(dir, 'out.txt');
  const be = createCharBackend(`file:${path}`);
  assert.ok(be instanceof FileBackend);
  for (const c of 'to file') be.write(c.charCodeAt(0));
  be.close();
  assert.equal(readFileSync(path, 'utf8'), 'to file');
});

test('chardev: tcp server on 127.0.0.1 serves one client', async () => {
  const be = new TcpServerBackend(0);
  const port = await be.listening;
  const fe = new Sink();
  be.attach(fe);
  const sock = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  sock.on('data', (d) => received.push(d));
  await be.clientConnected;
  // A second client is turned away.
  const second = connect(port, '127.0.0.1');
  await new Promise<void>((r) => second.on('close', () => r()));
  sock.write('ping');
  for (let i = 0; i < 50 && fe.got.length < 4; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Buffer.from(fe.got).toString(), 'ping');
  for (const c of 'pong') be.write(c.charCodeAt(0));
  for (let i = 0; i < 50 && Buffer.concat(received).length < 4; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Buffer.concat(received).toString(), 'pong');
  sock.destroy();
  be.close();
});

test('chardev: spec parsing rejects what is unsupported', () => {
  assert.throws(() => createCharBackend('tcp::4444,wait=off'), CharDevSpecError); // wait needs server mode
  assert.throws(() => createCharBackend('tcp:4444,server'), CharDevSpecError); // HOST:PORT
  assert.throws(() => createCharBackend('tcp::44x,server'), CharDevSpecError);
  assert.throws(() => createCharBackend('udp::1'), CharDevSpecError);
  assert.throws(() => createCharBackend('file:'), CharDevSpecError);
  const n = createCharBackend('null');
  n.write(1);
  n.close();
});
