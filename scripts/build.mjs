#!/usr/bin/env node
// npm run build (also run by `npm install` through "prepare"): compile src/
// to dist/src/ so `bin/tsvmm` starts without transpiling TypeScript at run
// time (tsx costs ~0.35 s of start-up). bin/tsvmm uses dist only while it is
// newer than every source file, and falls back to tsx otherwise, so a stale
// build is never run.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

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
// file reads, one compile each). The bundle sits beside main.js so that paths resolved against
// import.meta.url (src/host/node.ts: the worker entries, which stay unbundled) point into
// dist/src as before. Without it bin/tsvmm loads main.js.
// The hart worker likewise (src/host/node.ts starts it when present): each hart realm of an SMP
// machine loaded ~100 modules, and imported constants are live bindings V8 loads and checks at
// every use where the bundle has the value inlined.
try {
  const { build } = await import('esbuild');
  const bundle = (from, to) =>
    build({
      entryPoints: [join(dist, 'src', ...from)],
      outfile: join(dist, 'src', ...to),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Inlines primitive module constants at their uses. Bundling turns every top-level const
      // into a var (and modules reached by a dynamic import into lazily initialised ones), and
      // V8 folds only const bindings: each use of TLB_MASK, BLOCK, ... in the hot loops was a
      // load and a check instead of an immediate. Names stay (stack traces read the same).
      minifySyntax: true,
      logLevel: 'warning',
    });
  await bundle(['cli', 'main.js'], ['cli', 'main.bundle.js']);
  await bundle(['machine', 'smp', 'hart-worker.js'], ['machine', 'smp', 'hart-worker.bundle.js']);
} catch (e) {
  console.error(`build: no single-file CLI or hart worker (${e instanceof Error ? e.message : String(e)}); the modules are loaded instead`);
}
// The stamp's time is when compilation started: a source saved during the build counts as newer.
writeFileSync(join(dist, '.stamp'), `${started}\n`);
console.log(`build: dist/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
