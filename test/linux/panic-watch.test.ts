import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CharBackend, CharFrontend } from '../../src/hw/char/chardev.js';
import { PanicWatch } from '../../src/machine/panic-watch.js';

class Sink implements CharBackend {
  out: number[] = [];
  attach(_f: CharFrontend | null): void {}
  write(b: number): void {
    this.out.push(b);
  }
  acceptInput(): void {}
  flush(): void {}
  close(): void {}
}

function feed(w: PanicWatch, s: string): void {
  for (const b of new TextEncoder().encode(s)) w.write(b);
}

test('the panic banner fires once, after the bytes are forwarded unchanged', () => {
  const sink = new Sink();
  let fired = 0;
  const w = new PanicWatch(sink, () => fired++);
  const text = '[  1.0] KKernel panic - not synci\r\n[  1.1] Kernel panic - not syncing: No working init found.\r\n Kernel panic - not syncing';
  feed(w, text);
  assert.equal(fired, 1);
  assert.ok(w.panicked);
  assert.equal(new TextDecoder().decode(new Uint8Array(sink.out)), text);
});

test('near misses do not fire', () => {
  let fired = 0;
  const w = new PanicWatch(new Sink(), () => fired++);
  feed(w, 'Kernel panic - not syncin\nKernel Panic - not syncing\nkernel panic - not syncing');
  assert.equal(fired, 0);
});

test('-action panic=... and -panic-delay parse; bad values are option errors', async () => {
  const { parseRunArgs, OptionError } = await import('../../src/machine/options.js');
  const d = parseRunArgs([]);
  assert.equal(d.panicAction, 'exit-failure');
  assert.equal(d.panicDelay, 2);
  const c = parseRunArgs(['-action', 'panic=none,reboot=shutdown', '--panic-delay', '0.5']);
  assert.equal(c.panicAction, 'none');
  assert.equal(c.noReboot, true);
  assert.equal(c.panicDelay, 0.5);
  assert.equal(parseRunArgs(['-action', 'panic=shutdown']).panicAction, 'shutdown');
  assert.throws(() => parseRunArgs(['-action', 'panic=pause']), OptionError);
  assert.throws(() => parseRunArgs(['-action', 'watchdog=none']), OptionError);
  assert.throws(() => parseRunArgs(['-panic-delay', '-1']), OptionError);
  assert.throws(() => parseRunArgs(['-panic-delay', 'soon']), OptionError);
});
