import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { START_V8_FLAGS, V8_DEFAULTS, V8_FLAGS } from '../../bin/v8-flags.cjs';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));

test('tsvmm with an unknown command exits 2 with a clear message', () => {
  const r = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});

test('tsvmm --help lists the commands and exits 0', () => {
  const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /run\s/);
  assert.match(r.stdout, /mtree\s/);
});

test('tsvmm runs from the TypeScript sources when asked (and from dist/ when it is fresh)', () => {
  for (const env of [{ ...process.env, TSVMM_FROM_SOURCE: '1' }, process.env]) {
    const r = spawnSync(process.execPath, [bin, 'run', '-help'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /-machine/);
  }
});

test("bin/v8-flags.cjs: V8_DEFAULTS are this node's V8 defaults of V8_FLAGS (the code cache's hash depends on them)", () => {
  const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
  assert.equal(V8_DEFAULTS.length, V8_FLAGS.length);
  for (const [i, f] of V8_FLAGS.entries()) {
    const name = f.slice(0, f.indexOf('='));
    assert.ok(options.includes(`default: ${V8_DEFAULTS[i]}\n`), `${name}: node --v8-options does not give ${V8_DEFAULTS[i]} as its default`);
    assert.ok(V8_DEFAULTS[i]!.startsWith(`${name}=`));
  }
});

test('bin/tsvmm passes the V8 flags that only the command line can set, and runs when executed itself', () => {
  // bin/v8-flags.cjs: START_V8_FLAGS; `env -S` splits the first line's arguments.
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0];
  assert.equal(first, `#!/usr/bin/env -S node ${START_V8_FLAGS.join(' ')}`);
  const r = spawnSync(bin, ['run', '-help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-machine/);
});
