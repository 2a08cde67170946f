/**
 * Test support: a raw firmware image (for -bios, loaded at 0x80000000)
 * assembled from `asm` with Debian's riscv64-unknown-elf binutils, in a fresh
 * temporary directory; returns the image's path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function firmware(asm: string, march = 'rv64imac_zicsr'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-fw-'));
  writeFileSync(join(dir, 'fw.S'), asm);
  const as = spawnSync('riscv64-unknown-elf-as', [`-march=${march}`, '-o', join(dir, 'fw.o'), join(dir, 'fw.S')], { encoding: 'utf8' });
  assert.equal(as.status, 0, as.stderr);
  const oc = spawnSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', join(dir, 'fw.o'), join(dir, 'fw.bin')], { encoding: 'utf8' });
  assert.equal(oc.status, 0, oc.stderr);
  return join(dir, 'fw.bin');
}
