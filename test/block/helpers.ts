import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlockBackend, type DriveSpec } from '../../src/block/open.js';
import type { BlockBackend } from '../../src/block/backend.js';
import { rng } from '../helpers/rng.js';

export { rng };

export const dir = mkdtempSync(join(tmpdir(), 'tsvmm-block-'));
let n = 0;
export function tmp(name: string): string {
  return join(dir, `${n++}-${name}`);
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}

/** `qemu-img check`: exit 0 clean, 2 corruption, 3 leaks only (harmless). */
export function check(path: string): { code: number; out: string } {
  const r = spawnSync('qemu-img', ['check', path], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

export function compare(a: string, b: string): { code: number; out: string } {
  const r = spawnSync('qemu-img', ['compare', a, b], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  const r = rng(seed);
  for (let i = 0; i < len; i += 4) {
    const v = (r() * 0x100000000) >>> 0;
    b[i] = v;
    b[i + 1] = v >>> 8;
    b[i + 2] = v >>> 16;
    b[i + 3] = v >>> 24;
  }
  return b;
}

export function rawImage(size: number, fill?: (b: Uint8Array) => void): string {
  const p = tmp('base.raw');
  const b = new Uint8Array(size);
  fill?.(b);
  writeFileSync(p, b);
  return p;
}

export const warnings: string[] = [];
export function open(file: string, spec: Partial<DriveSpec> = {}): Promise<BlockBackend> {
  return openBlockBackend('d0', { file, readonly: false, cache: 'writeback', discard: 'ignore', snapshot: false, ...spec }, { warn: (m) => warnings.push(m), tmpdir: dir });
}
