/**
 * web.mips: the cpu.mips guest loop (bench/cpu-programs.ts MIX on the CPU
 * tests' machine, translated, 20 M instructions of warm-up then 100 M timed)
 * in Debian's chromium, headless: in a Web Worker of a fresh page each time
 * (V8's tiering counts, as cpu.mips's fresh processes), timed by the
 * worker's clock (wall time: a browser has no CPU-time clock; the worker has
 * a core to itself when the box is quiet). Value: the minimum over 3 pages,
 * the median beside it. Baseline: cpu.mips in Node (bench/cpu-child.ts,
 * CPU time, minimum over 3 processes) measured in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import type { Report } from './harness.js';
import { CHILD_NODE_ARGS, median, round } from './harness.js';
import { assemble } from '../test/cpu/guest.js';
import { MIX } from './cpu-programs.js';

export const group = 'web';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./cpu-child.ts', import.meta.url));

function stats(xs: number[]): { min: number; median: number } {
  return { min: Math.min(...xs), median: median(xs) };
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-web-bench-'));
  await build({ entryPoints: [join(ROOT, 'bench/web/mips-worker.ts')], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'worker.js'), logLevel: 'warning' });
  writeFileSync(
    join(dir, 'index.html'),
    // result is set before the script's first await: Chromium fires the load event (which
    // page.goto waits for) without waiting for a module's top-level await.
    `<!doctype html><script type="module">
      globalThis.result = (async () => {
        const image = new Uint8Array(await (await fetch('image.bin')).arrayBuffer());
        const w = new Worker('worker.js', { type: 'module' });
        const done = new Promise((resolve, reject) => { w.onmessage = (e) => resolve(e.data); w.onerror = (e) => reject(new Error(e.message)); });
        w.postMessage({ image, warm: 20000000, n: 100000000 });
        return done;
      })();
    </script>`,
  );
  writeFileSync(join(dir, 'image.bin'), assemble(MIX));
  const server = createServer((req, res) => {
    const name = (req.url ?? '/') === '/' ? 'index.html' : (req.url ?? '').slice(1);
    try {
      const body = readFileSync(join(dir, name.replace(/[^\w.]/g, '')));
      res.writeHead(200, {
        'Content-Type': name.endsWith('.js') ? 'text/javascript' : name.endsWith('.html') ? 'text/html' : 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'], protocolTimeout: 600_000 });
  const web: number[] = [];
  const node: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const r = (await page.evaluate(() => (globalThis as unknown as { result: Promise<{ mips: number }> }).result)) as { mips: number };
      web.push(r.mips);
      await page.close();
      const out = execFileSync(process.execPath, [...CHILD_NODE_ARGS, CHILD, 'mix', 'on'], { encoding: 'utf8' });
      node.push((JSON.parse(out.trim().split('\n').pop()!) as { mips: number }).mips);
    }
  } finally {
    await browser.close();
    server.close();
  }
  const w = stats(web);
  const n = stats(node);
  report({ name: 'web.mips', value: round(w.min, 1), unit: 'MIPS', median: round(w.median, 1), baseline: round(n.min, 1), ratio: round(w.min / n.min, 2) });
}
