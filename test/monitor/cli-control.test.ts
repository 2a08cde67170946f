/**
 * `tsvmm run` as QEMU users drive it: help and version requests, -S,
 * -no-shutdown, -pidfile, -name, -daemonize, -monitor stdio, QMP over TCP
 * (loopback by default), and stop/cont with harts in worker threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient, type Msg } from './qmp-client.js';
import { COUNTER_FW, firmware, until } from './helpers.js';
import { parseRunArgs } from '../../src/machine/options.js';
import { helpText } from '../../src/cli/qemu-help.js';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));
const run = (args: string[], input = ''): ReturnType<typeof spawnSync> =>
  spawnSync(process.execPath, [bin, 'run', ...args], { encoding: 'utf8', timeout: 60_000, input });

test('help and version requests print and exit before any machine is built', () => {
  const r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(String(r.stdout), /^tsvmm emulator version \d+\.\d+\.\d+ \(QEMU 7\.2 riscv64 virt compatible\)/);
  const cases: [string[], RegExp][] = [
    [['-version'], /^tsvmm emulator version/],
    [['-machine', 'help'], /^Supported machines are:\nvirt +RISC-V VirtIO board/],
    [['-M', 'virt,help'], /^Supported machines are:/],
    [['-cpu', 'help'], /^rv64$/m],
    [['-device', 'help'], /name "virtio-rng-pci"/],
    [['-device', 'virtio-rng-pci,help'], /^virtio-rng-pci options:/],
    [['-d', 'help'], /^Log items \(comma separated\):\nunimp/],
    [['-chardev', 'help'], /socket/],
  ];
  for (const [args, re] of cases) {
    const h = parseRunArgs(args).control.help;
    assert.ok(h, args.join(' '));
    assert.match(helpText(h.topic, h.driver), re, args.join(' '));
  }
  // -drive help is an error, as in QEMU: it never boots.
  const d = run(['-drive', 'help', '-bios', firmware(COUNTER_FW)]);
  assert.equal(d.status, 1);
  assert.match(String(d.stderr), /-drive help: Must specify either driver or file/);
  const n = parseRunArgs(['-device', 'nosuch,help']).control.help!;
  assert.throws(() => helpText(n.topic, n.driver), /Device 'nosuch' not found/);
  assert.throws(() => parseRunArgs(['-cpu', 'sifive-u54']), /unable to find CPU model 'sifive-u54'/);
});

test('-S -no-shutdown -pidfile -name: prelaunch, guest poweroff stops the machine, reset required before cont', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
  const sock = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'pid');
  const fw = firmware(`
  .text
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
`);
  const child = spawn(process.execPath, [bin, 'run', '-bios', fw, '-serial', 'none', '-S', '-no-shutdown', '-name', 'guest=vm1,debug-threads=on', '-pidfile', pidfile, '-qmp', `unix:${sock},server,nowait`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const c = await QmpClient.connect(sock);
  await c.next();
  await c.step({ execute: 'qmp_capabilities' });
  assert.equal(readFileSync(pidfile, 'utf8').trim(), String(child.pid));
  assert.deepEqual((await c.step({ execute: 'query-name' })).reply, { return: { name: 'vm1' } });
  assert.deepEqual((await c.step({ execute: 'query-status' })).reply, { return: { status: 'prelaunch', singlestep: false, running: false } });
  const cont = await c.step({ execute: 'cont' });
  const events: Msg[] = [...cont.events];
  while (!events.some((e) => e.event === 'STOP')) events.push((await c.next()) as Msg);
  assert.deepEqual(events.map((e) => [e.event, e.data]), [['RESUME', undefined], ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }], ['STOP', undefined]]);
  assert.deepEqual((await c.step({ execute: 'query-status' })).reply, { return: { status: 'shutdown', singlestep: false, running: false } });
  const again = await c.step({ execute: 'cont' });
  assert.deepEqual(again.reply, { error: { class: 'GenericError', desc: 'Resetting the Virtual Machine is required' } });
  const reset = await c.step({ execute: 'system_reset' });
  assert.deepEqual(reset.events.map((e) => e.event), ['RESET']);
  assert.deepEqual((await c.step({ execute: 'query-status' })).reply, { return: { status: 'paused', singlestep: false, running: false } });
  await c.step({ execute: 'quit' });
  assert.equal(await exit, 0);
  assert.equal(existsSync(pidfile), false);
  c.close();
});

test('stop/cont with harts in worker threads: every hart parks, registers of each, counters frozen', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
  const sock = join(dir, 'qmp.sock');
  const child = spawn(process.execPath, [bin, 'run', '-bios', firmware(COUNTER_FW), '-smp', '2', '-serial', 'none', '-qmp', `unix:${sock},server,nowait`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const c = await QmpClient.connect(sock);
  await c.next();
  await c.step({ execute: 'qmp_capabilities' });
  const hmp = async (line: string): Promise<string> => ((await c.step({ execute: 'human-monitor-command', arguments: { 'command-line': line } })).reply as { return: string }).return;
  const counters = async (): Promise<bigint[]> => {
    const m = /0000000080002000: 0x([0-9a-f]{16}) 0x([0-9a-f]{16})/.exec(await hmp('xp/2xg 0x80002000'));
    assert.ok(m);
    return [BigInt('0x' + m[1]), BigInt('0x' + m[2])];
  };
  let before: bigint[] = [0n, 0n];
  await until(() => before[0]! > 0n && before[1]! > 0n, 'both harts to count').catch(() => {});
  for (let i = 0; i < 600 && !(before[0]! > 0n && before[1]! > 0n); i++) {
    before = await counters();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(before[0]! > 0n && before[1]! > 0n, 'both harts count');
  const stop = await c.step({ execute: 'stop' });
  assert.deepEqual(stop.events.map((e) => e.event), ['STOP']);
  const frozen = await counters();
  const regs = await hmp('info registers');
  assert.match(regs, /CPU#0\r\n/);
  assert.match(regs, /CPU#1\r\n/);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await counters(), frozen);
  assert.equal(await hmp('info registers'), regs);
  await c.step({ execute: 'cont' });
  let after = frozen;
  for (let i = 0; i < 600 && !(after[0]! > frozen[0]! && after[1]! > frozen[1]!); i++) {
    after = await counters();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(after[0]! > frozen[0]! && after[1]! > frozen[1]!, 'both harts count again');
  await c.step({ execute: 'quit' });
  assert.equal(await exit, 0);
  c.close();
});

test('-qmp tcp::0,server waits on 127.0.0.1 for its client; -daemonize detaches once set up', { timeout: 120_000 }, async () => {
  const fw = firmware(COUNTER_FW);
  const child = spawn(process.execPath, [bin, 'run', '-bios', fw, '-serial', 'none', '-qmp', 'tcp::0,server'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let stderr = '';
  const port = await new Promise<number>((resolve) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      const m = /waiting for connection on tcp:127\.0\.0\.1:(\d+),server/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
  });
  const { connect } = await import('node:net');
  const s = connect(port, '127.0.0.1');
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  await until(() => got.includes('"QMP"'), 'greeting');
  s.write('{"execute":"qmp_capabilities"}{"execute":"quit"}');
  assert.equal(await exit, 0);
  s.destroy();

  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
  const sock = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'pid');
  const bad = run(['-daemonize', '-bios', fw]);
  assert.equal(bad.status, 1);
  assert.match(String(bad.stderr), /-daemonize: the console and monitors must not use stdio/);
  const d = run(['-daemonize', '-bios', fw, '-serial', 'none', '-pidfile', pidfile, '-qmp', `unix:${sock},server,nowait`]);
  assert.equal(d.status, 0, String(d.stderr));
  const pid = Number(readFileSync(pidfile, 'utf8'));
  assert.ok(pid > 0);
  const c = await QmpClient.connect(sock);
  await c.next();
  await c.step({ execute: 'qmp_capabilities' });
  assert.equal(((await c.step({ execute: 'query-status' })).reply as { return: { status: string } }).return.status, 'running');
  await c.step({ execute: 'quit' });
  await until(() => !existsSync(pidfile), 'the daemon to end');
  c.close();
});

test('-monitor stdio with no -serial shares stdio with the console (Ctrl-A c)', () => {
  const r = run(['-bios', firmware(COUNTER_FW), '-monitor', 'stdio'], '\x01cinfo status\rquit\r');
  assert.equal(r.status, 0, String(r.stderr));
  assert.match(String(r.stdout), /\(qemu\) info status\r\n[\s\S]*VM status: running\r\n/);
});
