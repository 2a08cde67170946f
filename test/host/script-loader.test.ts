import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeCachePath } from '../../src/host/script-loader.js';

const LOADER = fileURLToPath(new URL('../../src/host/script-loader.ts', import.meta.url));
const V8_FLAGS_MODULE = fileURLToPath(new URL('../../bin/v8-flags.cjs', import.meta.url));

/** A CommonJS bundle in the shape esbuild writes: requires a builtin, reads __filename, exports a function. */
const BUNDLE = `
const { basename } = require('node:path');
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
module.exports = { main: (n) => fib(n), name: basename(__filename) };
`;

/**
 * Load `file` in a fresh process (V8 keeps compiled scripts per isolate: a second load here would
 * not consult the cache). `v8Flags`: bin/tsvmm's flags (bin/v8-flags.cjs) set before the load, or
 * after it as bin/tsvmm does (with `saveCache`, V8's defaults put back before the cache is saved,
 * as the build's training run does).
 */
function loadIn(file: string, saveCache = false, v8Flags: 'none' | 'before' | 'after' = 'none'): { cache: string; result: number; name: string } {
  const code = `const { applyV8Flags, resetV8Flags } = await import(${JSON.stringify(V8_FLAGS_MODULE)});
    ${v8Flags === 'before' ? 'applyV8Flags();' : ''}
    ${v8Flags === 'after' && saveCache ? "process.once('exit', resetV8Flags);" : ''}
    const { loadScript, codeCachePath } = await import(${JSON.stringify(LOADER)});
    const { exports, cache } = loadScript(${JSON.stringify(file)}, ${saveCache ? `{ saveCacheAtExit: codeCachePath(${JSON.stringify(file)}) }` : '{}'});
    ${v8Flags === 'after' ? 'applyV8Flags();' : ''}
    console.log(JSON.stringify({ cache, result: exports.main(20), name: exports.name }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { cache: string; result: number; name: string };
}

test('a script bundle runs from the code cache its training run saved, and without one when the cache is stale or foreign', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-script-'));
  try {
    const file = join(dir, 'bundle.js');
    writeFileSync(file, BUNDLE);
    assert.deepEqual(loadIn(file), { cache: 'absent', result: 6765, name: 'bundle.js' });

    // The training run saves the cache at its exit; the next process uses it.
    assert.equal(loadIn(file, true).cache, 'absent');
    assert.ok(existsSync(codeCachePath(file)));
    assert.deepEqual(loadIn(file), { cache: 'used', result: 6765, name: 'bundle.js' });

    // A cache V8 cannot use (corrupt, or another V8's) is refused and the script compiles as without one.
    const good = readFileSync(codeCachePath(file));
    const bad = Buffer.from(good);
    bad.fill(0x5a, 0, 64);
    writeFileSync(codeCachePath(file), bad);
    assert.deepEqual(loadIn(file), { cache: 'rejected', result: 6765, name: 'bundle.js' });

    // A script newer than its cache (edited or rebuilt) is never offered the old cache:
    // V8 would only compare the source's length.
    writeFileSync(codeCachePath(file), good);
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
    assert.equal(loadIn(file).cache, 'absent');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("V8 takes a code cache only under the flags' values it was saved with: the training run puts V8's defaults back before saving", () => {
  // bin/tsvmm sets its flags (bin/v8-flags.cjs) after it loads the CLI's script, so the script
  // loads under V8's defaults, and the cache must carry their hash.
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-script-'));
  try {
    const file = join(dir, 'bundle.js');
    writeFileSync(file, BUNDLE);
    assert.equal(loadIn(file, true, 'after').cache, 'absent');
    assert.deepEqual(loadIn(file, false, 'after'), { cache: 'used', result: 6765, name: 'bundle.js' });
    assert.deepEqual(loadIn(file, false, 'before'), { cache: 'rejected', result: 6765, name: 'bundle.js' });
    // Saved while the flags are set, without putting the defaults back: refused at a load under them.
    assert.equal(loadIn(file, true, 'before').cache, 'absent');
    assert.deepEqual(loadIn(file, false, 'after'), { cache: 'rejected', result: 6765, name: 'bundle.js' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
