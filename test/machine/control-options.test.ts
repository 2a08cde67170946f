import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunArgs, OptionError } from '../../src/machine/options.js';
import { ChardevRegistry } from '../../src/hw/char/chardev-registry.js';
import { setupChardevs } from '../../src/machine/chardev-setup.js';
import { PassThrough } from 'node:stream';

test('control options: -chardev, -mon, -qmp, -monitor, -serial chardev:, -name, -S, -no-shutdown, -pidfile, -D', () => {
  const c = parseRunArgs([
    '-chardev', 'socket,id=mon0,path=/tmp/m.sock,server=on,wait=off', '-mon', 'chardev=mon0,mode=control,pretty=on',
    '-qmp', 'tcp:127.0.0.1:4444,server,nowait', '-monitor', 'unix:/tmp/h.sock,server,nowait',
    '-chardev', 'file,id=con,path=/tmp/con.log', '-serial', 'chardev:con',
    '-name', 'vm9', '-S', '-no-shutdown', '-pidfile', '/tmp/p', '-D', '/tmp/log', '--daemonize',
  ]).control;
  assert.deepEqual(c.chardevs.map((x) => x.id), ['mon0', 'compat_monitor0', 'compat_monitor1', 'con']);
  assert.deepEqual(c.monitors, [
    { chardev: 'mon0', mode: 'control', pretty: true },
    { chardev: 'compat_monitor0', mode: 'control', pretty: false },
    { chardev: 'compat_monitor1', mode: 'readline', pretty: false },
  ]);
  assert.equal(c.name, 'vm9');
  assert.ok(c.startPaused && c.noShutdown && c.daemonize);
  assert.equal(c.pidfile, '/tmp/p');
  assert.equal(c.logfile, '/tmp/log');
  for (const [argv, re] of [
    [['-mon', 'mode=control'], /Parameter 'chardev' is missing/],
    [['-mon', 'chardev=x,mode=bogus'], /unsupported property/],
    [['-chardev', 'socket,id=a,path=/x', '-chardev', 'null,id=a'], /duplicate chardev id 'a'/],
    [['-chardev', 'vc,id=a'], /not supported by tsvmm/],
    [['-qmp', 'telnet::4444,server'], /not supported/],
    [['-name', 'x,frob=1'], /unsupported property/],
  ] as [string[], RegExp][]) {
    assert.throws(() => parseRunArgs(argv), (e: unknown) => e instanceof OptionError && re.test(e.message), argv.join(' '));
  }
});

test('chardev setup: the default console is mon:stdio; -monitor none and -serial keep it plain', () => {
  const stdin = new PassThrough();
  const deps = { stdin, stdout: { write: () => {} } };
  const def = setupChardevs(parseRunArgs([]), new ChardevRegistry(deps));
  assert.deepEqual(def.monitors, [{ chardev: 'serial0', mode: 'readline', pretty: false }]);
  const none = setupChardevs(parseRunArgs(['-monitor', 'none']), new ChardevRegistry(deps));
  assert.deepEqual(none.monitors, []);
  const qreg = new ChardevRegistry(deps);
  const qmp = setupChardevs(parseRunArgs(['-qmp', `unix:/tmp/tsvmm-never-${process.pid}.sock,server,nowait`]), qreg);
  assert.deepEqual(qmp.monitors.map((m) => m.mode), ['control']);
  qreg.closeAll();
  const reg = new ChardevRegistry(deps);
  const ms = setupChardevs(parseRunArgs(['-serial', 'mon:stdio']), reg);
  assert.deepEqual(ms.monitors, [{ chardev: 'serial0', mode: 'readline', pretty: false }]);
  assert.ok(reg.get('serial0')!.mux);
  assert.throws(() => setupChardevs(parseRunArgs(['-chardev', 'stdio,id=a', '-serial', 'stdio']), new ChardevRegistry(deps)), /stdio by multiple/);
  for (const r of [reg]) r.closeAll();
  stdin.destroy();
});
