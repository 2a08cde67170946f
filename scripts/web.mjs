#!/usr/bin/env node
// npm run web [-- --port N] [--files DIR] [--file NAME=PATH] [--no-isolation] [--no-build] [--out DIR]
//
// Builds the static site (esbuild: the page and the hart worker bundle, the
// page's HTML/CSS and xterm's CSS) into web-dist/, then serves it on
// 127.0.0.1 with the headers SharedArrayBuffer needs (Cross-Origin-Opener-
// Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp).
// `files/NAME` serves guest images: Debian's firmware (u-boot.bin,
// fw_dynamic.bin, fw_jump.bin), the Linux guest of `npm run guest:linux`
// (vmlinux, initrd.gz) when built, every file of --files DIR, and each
// --file NAME=PATH. Nothing else of the host is reachable.
// --no-isolation leaves the two headers out (to see the page's fallback).
import { build } from 'esbuild';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const port = Number(opt('--port') ?? 8080);
const out = resolve(opt('--out') ?? join(root, 'web-dist'));
const isolation = !args.includes('--no-isolation');

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`web: --port ${opt('--port')}: not a port number`);
  process.exit(1);
}

if (!args.includes('--no-build')) {
  const started = Date.now();
  mkdirSync(out, { recursive: true });
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true, logLevel: 'warning', absWorkingDir: root };
  await build({ ...common, entryPoints: { page: 'src/web/page.ts', 'hart-worker': 'src/web/hart-worker.ts' }, outdir: out });
  for (const f of ['index.html', 'page.css']) copyFileSync(join(root, 'src/web', f), join(out, f));
  copyFileSync(join(root, 'node_modules/@xterm/xterm/css/xterm.css'), join(out, 'xterm.css'));
  console.log(`web: site built in ${out} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Served guest images by name. */
const files = new Map([
  ['u-boot.bin', '/usr/lib/u-boot/qemu-riscv64/u-boot.bin'],
  ['fw_dynamic.bin', '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin'],
  ['fw_jump.bin', '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin'],
  ['vmlinux', join(root, 'guests/linux/vmlinux')],
  ['initrd.gz', join(root, 'guests/linux/initrd.gz')],
]);
const dir = opt('--files');
if (dir) for (const n of readdirSync(dir)) if (statSync(join(dir, n)).isFile()) files.set(n, join(dir, n));
args.forEach((a, i) => {
  if (a !== '--file') return;
  const [name, ...rest] = String(args[i + 1]).split('=');
  files.set(name, resolve(rest.join('=')));
});

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

const server = createServer((req, res) => {
  const headers = { 'Cache-Control': 'no-store' };
  if (isolation) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    headers['Cross-Origin-Resource-Policy'] = 'same-origin';
  }
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  let file = null;
  let type = 'application/octet-stream';
  if (path.startsWith('/files/')) file = files.get(path.slice(7)) ?? null;
  else {
    const name = path === '/' ? 'index.html' : path.slice(1);
    // Only the site's own top-level files.
    if (/^[\w.-]+$/.test(name)) file = join(out, name);
    type = TYPES[extname(name)] ?? type;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, headers).end();
    return;
  }
  if (!file || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': statSync(file).size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
});
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  console.log(`web: serving http://127.0.0.1:${a.port}/${isolation ? '' : ' (without cross-origin isolation headers)'}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
