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

// The processes measured (tsvmm, QEMU, the cpu children) start without NODE_EXTRA_CA_CERTS: where
// it is set (this development sandbox points it at a certificate bundle), every Node process
// parses that bundle at start, 35-40 ms of CPU that belongs to the environment, not to the
// emulator, and that QEMU never pays. Nothing measured makes a TLS connection.
delete process.env.NODE_EXTRA_CA_CERTS;

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
