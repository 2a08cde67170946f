// `node --import tsx --import ./bench/dist.mjs ...`: benchmarks measure what
// `tsvmm run` runs. bin/tsvmm runs the compiled tree in dist/ when it is newer
// than every source (npm run build), so here imports of src/ resolve to dist/
// under the same condition; with a stale or missing build they stay on the
// sources (through tsx), as bin/tsvmm falls back too. tsx's own module
// transform differs from tsc's output (cross-module constants become getter
// calls), which cost the interpreter a fifth of its speed in cpu.mips.
import { register } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { distIsCurrent } from '../bin/dist-current.cjs';

const root = fileURLToPath(new URL('..', import.meta.url));

if (distIsCurrent(root)) {
  register('./dist-resolve.mjs', import.meta.url, { data: { src: pathToFileURL(join(root, 'src')).href + '/', dist: pathToFileURL(join(root, 'dist', 'src')).href + '/' } });
} else {
  console.error('bench: dist/ is missing or older than src/ (npm run build); measuring the sources through tsx');
}
