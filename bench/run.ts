// npm run bench [-- --filter GROUP]
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { BenchModule, BenchResult } from './harness.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const fi = args.indexOf('--filter');
const filter = fi >= 0 ? args[fi + 1] : undefined;
if (fi >= 0 && !filter) {
  console.error('usage: npm run bench -- [--filter GROUP]');
  process.exit(2);
}

const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
let ran = 0;
for (const f of files) {
  const mod = (await import(pathToFileURL(join(dir, f)).href)) as BenchModule;
  if (filter && mod.group !== filter) continue;
  ran++;
  await mod.run((r: BenchResult) => console.log(JSON.stringify(r)));
}
if (ran === 0) {
  console.error(filter ? `no benchmark group named ${filter}` : 'no benchmarks found');
  process.exit(2);
}
