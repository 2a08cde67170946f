import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CharDevSpecError } from '../../../src/hw/char/chardev.js';
import { parseChardev, parseLegacyChardev, chardevFilename } from '../../../src/hw/char/chardev-spec.js';

test('-chardev: every backend with its options', () => {
  assert.deepEqual(parseChardev('socket,id=q,path=/tmp/q.sock,server=on,wait=off'), {
    backend: 'socket', id: 'q', mux: false, addr: { type: 'unix', path: '/tmp/q.sock' }, server: true, wait: false, nodelay: false,
  });
  assert.deepEqual(parseChardev('socket,id=t,host=::1,port=5555,server,nowait'), {
    backend: 'socket', id: 't', mux: false, addr: { type: 'inet', host: '::1', port: 5555 }, server: true, wait: false, nodelay: false,
  });
  // No host: loopback (tsvmm never listens on every interface unless told to).
  const s = parseChardev('socket,id=t,port=0,server=on');
  assert.ok(s.backend === 'socket' && s.addr.type === 'inet' && s.addr.host === '127.0.0.1' && s.wait);
  const c = parseChardev('socket,id=c,host=10.0.0.1,port=99');
  assert.ok(c.backend === 'socket' && !c.server && !c.wait);
  assert.deepEqual(parseChardev('stdio,id=s,mux=on,signal=off'), { backend: 'stdio', id: 's', mux: true, signal: false });
  assert.deepEqual(parseChardev('file,id=f,path=/tmp/a,,b'), { backend: 'file', id: 'f', mux: false, path: '/tmp/a,b', append: false });
  assert.deepEqual(parseChardev('pipe,id=p,path=/tmp/p'), { backend: 'pipe', id: 'p', mux: false, path: '/tmp/p' });
  assert.deepEqual(parseChardev('ringbuf,id=r,size=4K'), { backend: 'ringbuf', id: 'r', mux: false, size: 4096 });
  assert.deepEqual(parseChardev('null,id=n'), { backend: 'null', id: 'n', mux: false });
});

test('legacy specs: stdio, mon:stdio, null, none, file:, pipe:, tcp:, unix:, chardev:', () => {
  assert.deepEqual(parseLegacyChardev('mon:stdio', 'serial0'), { kind: 'new', monitor: true, spec: { backend: 'stdio', id: 'serial0', mux: true, signal: true } });
  assert.deepEqual(parseLegacyChardev('none', 'x'), { kind: 'none' });
  assert.deepEqual(parseLegacyChardev('chardev:con0', 'x'), { kind: 'ref', id: 'con0' });
  const u = parseLegacyChardev('unix:/tmp/qmp.sock,server,nowait', 'compat_monitor0');
  assert.ok(u.kind === 'new' && u.spec.backend === 'socket' && u.spec.server && !u.spec.wait);
  assert.equal(u.kind === 'new' && chardevFilename(u.spec), 'unix:/tmp/qmp.sock,server=on');
  const t = parseLegacyChardev('tcp:localhost:4444,server=on,wait=off', 'm');
  assert.ok(t.kind === 'new' && t.spec.backend === 'socket' && t.spec.addr.type === 'inet' && t.spec.addr.host === 'localhost');
  const w = parseLegacyChardev('tcp::4444,server', 'm');
  assert.ok(w.kind === 'new' && w.spec.backend === 'socket' && w.spec.wait && w.spec.addr.type === 'inet' && w.spec.addr.host === '127.0.0.1');
  const m = parseLegacyChardev('mon:tcp::1,server,nowait', 'm');
  assert.ok(m.kind === 'new' && m.monitor && m.spec.mux);
});

test('bad specs are typed errors with a reason', () => {
  const bad: [() => unknown, string][] = [
    [() => parseChardev('socket,path=/x,server=on'), 'missing-id'],
    [() => parseChardev('socket,id=1x,path=/x'), 'bad-id'],
    [() => parseChardev('frob,id=a'), 'unknown-backend'],
    [() => parseChardev('pty,id=a'), 'unsupported-backend'],
    [() => parseChardev('socket,id=a,port=70000,server'), 'bad-port'],
    [() => parseChardev('socket,id=a,port=1,path=/x'), 'conflict'],
    [() => parseChardev('socket,id=a,port=1,wait=off'), 'conflict'],
    [() => parseChardev('socket,id=a,port=1,telnet=on'), 'unknown-option'],
    [() => parseChardev('socket,id=a,port=1,server=maybe'), 'bad-value'],
    [() => parseChardev('file,id=a'), 'missing-path'],
    [() => parseChardev('ringbuf,id=a,size=1000'), 'bad-value'],
    [() => parseChardev(''), 'unknown-backend'],
    [() => parseLegacyChardev('udp::1', 'x'), 'unsupported-backend'],
    [() => parseLegacyChardev('bogus', 'x'), 'unknown-backend'],
    [() => parseLegacyChardev('tcp:4444', 'x'), 'bad-port'],
    [() => parseLegacyChardev('unix:,server', 'x'), 'missing-path'],
    [() => parseLegacyChardev('file:', 'x'), 'missing-path'],
  ];
  for (const [fn, reason] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof CharDevSpecError && e.reason === reason, `${fn} -> ${reason}`);
  }
});
