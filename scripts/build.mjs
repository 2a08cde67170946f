#!/usr/bin/env node
// npm run build (also run by `npm install` through "prepare"): compile src/
// to dist/src/ so `bin/tsvmm` starts without transpiling TypeScript at run
// time (tsx costs ~0.35 s of start-up). bin/tsvmm uses dist only while it is
// newer than every source file, and falls back to tsx otherwise, so a stale
// build is never run.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { START_V8_FLAGS } from '../bin/v8-flags.cjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const started = Date.now();
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error('build: tsc failed; bin/tsvmm will run the sources through tsx');
  // Under `npm install` (--if-possible) a failed build must not fail the install: the sources still run.
  process.exit(process.argv.includes('--if-possible') ? 0 : tsc.status ?? 1);
}
// Plain JavaScript assets (worker bootstrap shims) are not emitted by tsc.
(function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) copyAssets(p);
    else if (name.endsWith('.mjs')) {
      const out = join(dist, relative(root, p));
      mkdirSync(dirname(out), { recursive: true });
      copyFileSync(p, out);
    }
  }
})(join(root, 'src'));
// The CLI as one file: loading ~230 ES modules one by one cost ~0.15 s of every start (resolution,
// file reads, one compile each). It is a CommonJS bundle, run by bin/tsvmm as a classic script
// (src/host/script-loader.ts) so that V8's code cache for it (made below) can be used; it sits
// beside main.js so that paths resolved against import.meta.url (src/host/node.ts: the worker
// entries, which stay unbundled) point into dist/src as before. Without it bin/tsvmm loads main.js.
// The hart worker is an ES module bundle (src/host/node.ts starts it when present): each hart realm
// of an SMP machine loaded ~100 modules, and imported constants are live bindings V8 loads and
// checks at every use where the bundle has the value inlined.
const CLI_SCRIPT = join(dist, 'src', 'cli', 'main.script.js');
let bundled = false;
try {
  const { build } = await import('esbuild');
  const bundle = (from, to, format) =>
    build({
      entryPoints: [join(dist, 'src', ...from)],
      outfile: join(dist, 'src', ...to),
      bundle: true,
      platform: 'node',
      format,
      target: 'node20',
      // Inlines primitive module constants at their uses. Bundling turns every top-level const
      // into a var (and modules reached by a dynamic import into lazily initialised ones), and
      // V8 folds only const bindings: each use of TLB_MASK, BLOCK, ... in the hot loops was a
      // load and a check instead of an immediate. Names stay (stack traces read the same).
      minifySyntax: true,
      // And without the whitespace: a start reads and hashes a third less source (1.14 -> 0.75
      // MB for the CLI's bundle; start and power off 57.9 -> 54.5 ms of CPU, 3 alternated
      // batches of 20). Names stay; positions map back to dist/ through the linked source map
      // (node --enable-source-maps).
      minifyWhitespace: true,
      sourcemap: 'linked',
      // A script has no import.meta: its URL comes from the file's path.
      ...(format === 'cjs' ? { define: { 'import.meta.url': '__tsvmmScriptUrl' }, banner: { js: 'const __tsvmmScriptUrl = require("node:url").pathToFileURL(__filename).href;' } } : {}),
      logLevel: 'warning',
    });
  await bundle(['cli', 'main.js'], ['cli', 'main.script.js'], 'cjs');
  await bundle(['machine', 'smp', 'hart-worker.js'], ['machine', 'smp', 'hart-worker.bundle.js'], 'esm');
  // The loader of the CLI's bundle as CommonJS too: bin/tsvmm is CommonJS (it says why).
  await bundle(['host', 'script-loader.js'], ['host', 'script-loader.cjs'], 'cjs');
  bundled = true;
} catch (e) {
  console.error(`build: no single-file CLI or hart worker (${e instanceof Error ? e.message : String(e)}); the modules are loaded instead`);
}
// The CLI's code cache: run it once on a firmware that runs a loop until it is translated, prints
// a line and powers the machine off (argument parsing, the virt machine's construction, the
// engines' warm-up and the translator, which the warm-up precedes, the UART, the power off), and
// keep what V8 compiled by the exit. ~0.3 s here; every later start skips compiling
// those functions (src/host/script-loader.ts). Without it the CLI runs the same, only starts slower.
if (bundled) {
  const firmware = join(tmpdir(), `tsvmm-code-cache-${process.pid}.bin`);
  // lui t2,5; 1: addi t2,t2,-1; bnez t2,1b (20,480 rounds: hot at any threshold);
  // lui t0,0x10000; li t1,'k'; sb t1,0(t0); li t1,'\n'; sb t1,0(t0); lui t0,0x100; lui t1,5; addi t1,t1,0x555; sw t1,0(t0); j .
  const words = [0x000053b7, 0xfff38393, 0xfe039ee3, 0x100002b7, 0x06b00313, 0x00628023, 0x00a00313, 0x00628023, 0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f];
  const image = Buffer.alloc(4 * words.length);
  words.forEach((w, i) => image.writeUInt32LE(w, 4 * i)); // RISC-V is little-endian, whatever the host is
  writeFileSync(firmware, image);
  const loader = pathToFileURL(join(dist, 'src', 'host', 'script-loader.js')).href;
  const flags = pathToFileURL(join(root, 'bin', 'v8-flags.cjs')).href;
  // As bin/tsvmm: the script loaded under V8's default flags, tsvmm's set as the run starts;
  // the defaults back before the cache is saved (an exit listener registered before
  // loadScript's), so the cache carries their hash (bin/v8-flags.cjs says why).
  const train = [
    `const { applyV8Flags, resetV8Flags } = await import(${JSON.stringify(flags)});`,
    `const { loadScript, codeCachePath } = await import(${JSON.stringify(loader)});`,
    `process.once('exit', resetV8Flags);`,
    `const { exports } = loadScript(${JSON.stringify(CLI_SCRIPT)}, { saveCacheAtExit: codeCachePath(${JSON.stringify(CLI_SCRIPT)}) });`,
    `process.exitCode = await exports.main(['run', '-machine', 'virt', '-m', '64M', '-nographic', '-bios', ${JSON.stringify(firmware)}], { runStarting: applyV8Flags });`,
  ].join('\n');
  const r = spawnSync(process.execPath, [...START_V8_FLAGS, '--input-type=module', '-e', train], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  rmSync(firmware, { force: true });
  if (r.status !== 0 || r.stdout.trim() !== 'k') {
    rmSync(CLI_SCRIPT + '.cache', { force: true });
    console.error(`build: no code cache for the CLI (its training run ${r.error ? r.error.message : `exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(-300)}`})`);
  }
}
// The stamp's time is when compilation started: a source saved during the build counts as newer.
writeFileSync(join(dist, '.stamp'), `${started}\n`);
console.log(`build: dist/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
