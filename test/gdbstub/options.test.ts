import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseRunArgs } from '../../src/machine/options.js';
import { GdbSpecError, parseGdbSpec } from '../../src/gdbstub/server.js';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));

test('-s, -S and -gdb parse as in QEMU; tcp::PORT listens on loopback only', () => {
  assert.equal(parseRunArgs(['-s']).gdb, 'tcp::1234');
  assert.equal(parseRunArgs(['-S', '-s']).control.startPaused, true);
  assert.equal(parseRunArgs(['-gdb', 'unix:/tmp/g.sock']).gdb, 'unix:/tmp/g.sock');
  assert.deepEqual(parseGdbSpec('tcp::1234'), { kind: 'tcp', host: '127.0.0.1', port: 1234 });
  assert.deepEqual(parseGdbSpec('tcp:0.0.0.0:9'), { kind: 'tcp', host: '0.0.0.0', port: 9 });
  assert.deepEqual(parseGdbSpec('1234'), { kind: 'tcp', host: '127.0.0.1', port: 1234 });
  assert.deepEqual(parseGdbSpec('unix:/tmp/g.sock,server,nowait'), { kind: 'unix', path: '/tmp/g.sock' });
  for (const bad of ['tcp::99999', 'tcp::x', 'unix:', 'tcp::1,telnet', 'stdio']) {
    assert.throws(() => parseGdbSpec(bad), GdbSpecError, bad);
  }
});

test('gdbstub setup errors are one line and exit 1 before any guest runs', () => {
  const cases: [string[], RegExp][] = [
    [['-gdb', 'tcp::x'], /-gdb tcp::x: bad port/],
    [['-gdb', 'tcp::1', '-smp', '2', '-accel', 'tcg,thread=multi'], /-gdb needs -accel tcg,thread=single/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [bin, 'run', ...args], { encoding: 'utf8', timeout: 60_000, input: '' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
