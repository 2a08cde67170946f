/**
 * The human monitor: the pure parser and formatters, a session over TCP
 * against a machine in this process, and the Ctrl-A c mux on stdio.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { parseHmp, parseMemFormat, evalAddr, formatDump, HmpParseError, HMP_PROMPT } from '../../src/monitor/hmp.js';
import { ChardevRegistry } from '../../src/hw/char/chardev-registry.js';
import { parseChardev } from '../../src/hw/char/chardev-spec.js';
import type { CharFrontend } from '../../src/hw/char/chardev.js';
import { translateDebug } from '../../src/monitor/page-walk.js';
import type { HartState } from '../../src/machine/hart-state.js';
import { startInProcess, until } from './helpers.js';

test('HMP parser: commands, formats, bad input as typed errors', () => {
  assert.deepEqual(parseHmp('info mtree -f'), { cmd: 'info', topic: 'mtree', flat: true });
  assert.deepEqual(parseHmp('  c '), { cmd: 'cont' });
  assert.deepEqual(parseHmp('x/4i $pc'), { cmd: 'x', fmt: { count: 4, format: 'i', size: 4 }, addr: '$pc' });
  assert.deepEqual(parseHmp('xp /2xg 0x80000000'), { cmd: 'xp', fmt: { count: 2, format: 'x', size: 8 }, addr: '0x80000000' });
  assert.deepEqual(parseMemFormat('/10c'), { count: 10, format: 'c', size: 1 });
  assert.deepEqual(parseHmp('device_add virtio-rng-pci,bus=br1,addr=2'), { cmd: 'device_add', spec: 'virtio-rng-pci,bus=br1,addr=2' });
  for (const bad of ['bogus', 'stop now', 'x', 'x/4q 0', 'cpu x', 'device_del', 'info mtree -z', 'x/0x 0']) {
    assert.throws(() => parseHmp(bad), HmpParseError, bad);
  }
});

test('HMP: address expressions and the memory dump layout', () => {
  const st = { hartId: 0, pc: 0x1000n, priv: 3, x: Array(32).fill(0n), f: Array(32).fill(0n), csr: { satp: 0n }, waiting: false, steps: 0 } as HartState;
  st.x[10] = 0x20n;
  assert.equal(evalAddr('$pc + 0x10 - $a0', st), 0xff0n);
  assert.equal(evalAddr('-1', null), (1n << 64n) - 1n);
  assert.throws(() => evalAddr('$nosuch', st), HmpParseError);
  const bytes = Uint8Array.from([0x97, 0x02, 0x00, 0x00, 0x13, 0x86, 0x82, 0x02, 0x73, 0x25, 0x40, 0xf1]);
  assert.equal(formatDump(0x1000n, { count: 3, format: 'x', size: 4 }, bytes, 12, true), '0000000000001000: 0x00000297 0x02828613 0xf1402573');
  assert.equal(formatDump(0x1000n, { count: 3, format: 'x', size: 1 }, bytes, 12, true), '0000000000001000: 0x97 0x02 0x00');
  assert.equal(formatDump(0x1000n, { count: 3, format: 'd', size: 1 }, bytes, 12, true), '0000000000001000: 151   2   0');
  assert.equal(formatDump(0x1000n, { count: 1, format: 'c', size: 1 }, bytes, 12, true), "0000000000001000: '\\x97'");
  assert.match(formatDump(0x1000n, { count: 2, format: 'i', size: 4 }, bytes, 12, false), /^0x0000000000001000:  00000297 +auipc/);
  assert.equal(formatDump(0x0n, { count: 2, format: 'x', size: 4 }, null, 0, true), '0000000000000000: Cannot access memory');
});

test('HMP: Sv39 debug translation through page tables in guest memory', () => {
  const mem = new Map<bigint, bigint>();
  // root at 0x1000: entry 2 -> level-1 table at 0x2000; its entry 0 -> a 2 MiB superpage at 0x80200000.
  mem.set(0x1000n + 2n * 8n, ((0x2000n >> 12n) << 10n) | 1n);
  mem.set(0x2000n, ((0x80200000n >> 12n) << 10n) | 0xfn);
  const st = { hartId: 0, pc: 0n, priv: 1, x: [], f: [], csr: { satp: (8n << 60n) | 1n }, waiting: false, steps: 0 } as unknown as HartState;
  const read = (pa: bigint): bigint | null => mem.get(pa) ?? 0n;
  assert.equal(translateDebug(st, 0x80012345n, read), 0x80212345n);
  assert.equal(translateDebug(st, 0x40000000n, read), null);
  assert.equal(translateDebug({ ...st, priv: 3 }, 0x1234n, read), 0x1234n);
});

function reader(sock: import('node:net').Socket): { text: () => string; waitFor: (re: RegExp) => Promise<string> } {
  let s = '';
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => (s += d));
  return {
    text: () => s,
    waitFor: async (re) => {
      await until(() => re.test(s), `HMP output ${re}`);
      const out = s;
      s = '';
      return out;
    },
  };
}

test('HMP over TCP: banner, prompt, echo, info, x/xp, line editing, stop/cont, quit', { timeout: 60_000 }, async () => {
  const m = await startInProcess();
  try {
    const sock = connect(m.hmpPort, '127.0.0.1');
    const r = reader(sock);
    assert.match(await r.waitFor(/\(qemu\) $/), /monitor .* - type 'help' for more information\r\n\(qemu\) $/);
    sock.write('info status\r');
    assert.equal(await r.waitFor(/\(qemu\) $/), 'info status\r\nVM status: running\r\n(qemu) ');
    await until(() => m.counter() > 0n, 'the guest to count');
    sock.write('xp/1xw 0x80001000\r\n');
    assert.match(await r.waitFor(/\(qemu\) $/), /0000000080001000: 0x11223344\r\n/);
    sock.write('x/2i 0x80000000\r');
    assert.match(await r.waitFor(/\(qemu\) $/), /0x0000000080000000:  f1402573 +csrr/);
    sock.write('info regiXX\x7f\x7fsters\r');
    const regs = await r.waitFor(/\(qemu\) $/);
    assert.match(regs, /CPU#0\r\n/);
    assert.match(regs, / pc +[0-9a-f]{16}\r\n/);
    sock.write('info mtree -f\r');
    assert.match(await r.waitFor(/\(qemu\) $/), /riscv_virt_board\.ram/);
    sock.write('frobnicate\r');
    assert.match(await r.waitFor(/\(qemu\) $/), /unknown command: 'frobnicate'/);
    sock.write('\x1b[A' + 'y'.repeat(5000) + '\r');
    assert.match(await r.waitFor(/\(qemu\) $/), /line too long/);
    sock.write('stop\r');
    await r.waitFor(/\(qemu\) $/);
    assert.equal(m.machine.runControl.state, 'paused');
    sock.write('info status\rc\rinfo status\r');
    const both = await r.waitFor(/running\r\n\(qemu\) $/);
    assert.match(both, /VM status: paused\r\n[\s\S]*VM status: running/);
    sock.write('help\r');
    assert.match(await r.waitFor(/\(qemu\) $/), /x \/fmt addr -- /);
    sock.write('quit\r');
    assert.equal(await m.run, 0);
    sock.destroy();
  } finally {
    m.machine.quit(0);
    await m.run;
  }
});

test('mon:stdio: Ctrl-A c switches between the guest console and the monitor', async () => {
  const stdin = new PassThrough();
  let out = '';
  const reg = new ChardevRegistry({ stdin, stdout: { write: (b: Uint8Array) => (out += Buffer.from(b).toString('latin1')) } });
  reg.add(parseChardev('stdio,id=serial0,mux=on'));
  const guest: number[] = [];
  const fe: CharFrontend = { canReceive: () => 100, receive: (b) => guest.push(...b) };
  reg.claim('serial0', 'serial0').attach(fe);
  const lines: string[] = [];
  reg.claimSessions('serial0', 'monitor0', {
    open: (s) => {
      assert.equal(s.muxed, true);
      return {
        data: (b) => {
          lines.push(Buffer.from(b).toString());
          s.write(Buffer.from(HMP_PROMPT));
        },
        closed: () => {},
        muxEvent: (e) => {
          if (e === 'focus-in') s.write(Buffer.from('[monitor]'));
        },
      };
    },
  });
  stdin.write('ab\x01cinfo status\r\x01cz');
  await until(() => guest.length === 3, 'guest input');
  reg.flushAll();
  assert.equal(Buffer.from(guest).toString(), 'abz');
  assert.deepEqual(lines, ['info status\r']);
  assert.equal(out, `[monitor]${HMP_PROMPT}`);
  reg.closeAll();
});
