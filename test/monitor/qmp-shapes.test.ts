/**
 * Acceptance: one plain JSON QMP client script (qmp-script.ts) runs
 * unchanged against QEMU 7.2 (qemu-system-riscv64, installed by .ci/run)
 * and tsvmm with the same command line; the replies must have the same
 * shapes (keys and value types), the same events, and the same values where
 * the script says so (error classes and messages, run states).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpClient, shape, type Msg } from './qmp-client.js';
import { SCRIPT, SHAPE_ARGS } from './qmp-script.js';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));

interface Transcript {
  greeting: unknown;
  steps: { name: string; events: unknown[]; reply: unknown; same: unknown }[];
  exit: number | null;
}

async function converse(child: ChildProcess, sock: string): Promise<Transcript> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const c = await QmpClient.connect(sock);
  try {
    const greeting = await c.next();
    assert.notEqual(greeting, 'eof', `no greeting: ${stderr}`);
    const out: Transcript = { greeting: shape(greeting), steps: [], exit: null };
    for (const s of SCRIPT) {
      const r = await c.step(s.send);
      const reply = r.reply === 'eof' ? 'eof' : r.reply;
      const picked = reply === 'eof' ? 'eof' : s.pick && 'return' in reply ? s.pick(reply) : reply;
      out.steps.push({
        name: s.name,
        events: r.events.map((e) => ({ event: e.event, shape: shape(e) })),
        reply: shape(picked),
        same: reply === 'eof' ? 'eof' : s.same ? s.same(reply as Msg) : null,
      });
    }
    // After quit the machine goes away.
    assert.equal(await c.next(), 'eof');
    out.exit = await exited;
    return out;
  } finally {
    c.close();
    child.kill();
  }
}

test('QMP: the same client script gets the same reply shapes from QEMU 7.2 and tsvmm', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qmp-'));
  const img = join(dir, 'd.img');
  writeFileSync(img, new Uint8Array(1 << 20));
  const qsock = join(dir, 'qemu.sock');
  const tsock = join(dir, 'tsvmm.sock');
  const qemu = spawn('qemu-system-riscv64', SHAPE_ARGS(img, qsock), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ref = await converse(qemu, qsock);
  const ours = spawn(process.execPath, [bin, 'run', ...SHAPE_ARGS(img, tsock)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const got = await converse(ours, tsock);
  assert.deepEqual(got.greeting, ref.greeting, 'greeting');
  for (let i = 0; i < SCRIPT.length; i++) {
    assert.deepEqual(got.steps[i], ref.steps[i], `step ${SCRIPT[i]!.name}`);
  }
  assert.equal(got.exit, ref.exit);
});
