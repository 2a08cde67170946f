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
// The stamp's time is when compilation started: a source saved during the build counts as newer.
writeFileSync(join(dist, '.stamp'), `${started}\n`);
console.log(`build: dist/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
