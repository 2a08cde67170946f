import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSVMM } from '../../helpers/console.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-virtio-cli-'));
const img = join(dir, 'ok.raw');
writeFileSync(img, new Uint8Array(4096));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [TSVMM, 'run', '-nographic', ...args], { encoding: 'utf8', input: '', timeout: 30_000 });
  return { code: r.status, err: r.stderr.trim(), out: r.stdout };
}

test('bad drive and device options fail with one line and exit 1 before the guest starts', () => {
  const cases: Array<[string[], RegExp]> = [
    [['-drive', `file=${join(dir, 'missing.raw')},if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0'], /Could not open '.*missing\.raw': No such file or directory/],
    [['-drive', `file=${img},if=none,id=d0,format=raw`, '-device', 'virtio-blk-device,drive=d1'], /no -drive with id=d1/],
    [['-drive', `file=${img},if=none,id=d0,format=qcow2`, '-device', 'virtio-blk-pci,drive=d0'], /Image is not in qcow2 format/],
    [['-drive', `file=${img},if=none,id=d0,format=raw`, '-device', 'virtio-blk-device,drive=d0', '-device', 'virtio-blk-pci,drive=d0'], /already in use/],
    [['-device', 'virtio-gpu-pci'], /unknown device 'virtio-gpu-pci'/],
    [['-drive', `file=${img},if=ide,format=raw`], /if=ide: interface not supported/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
    assert.match(r.err, pattern);
    assert.doesNotMatch(r.out, /U-Boot/, 'no guest ran');
  }
});

test('an image the host will not open for writing needs readonly=on', () => {
  // An immutable file refuses writers even to root (CI runs as root, so chmod would not do).
  const ro = join(dir, 'ro.raw');
  writeFileSync(ro, new Uint8Array(4096));
  execFileSync('chattr', ['+i', ro]);
  try {
    const r = run('-drive', `file=${ro},if=none,id=d0,format=raw`, '-device', 'virtio-blk-device,drive=d0');
    assert.equal(r.code, 1);
    assert.equal(r.err.split('\n').length, 1);
    assert.match(r.err, /readonly=on/);
  } finally {
    execFileSync('chattr', ['-i', ro]);
  }
});

test('-device help lists the virtio devices', () => {
  const r = spawnSync(process.execPath, [TSVMM, 'run', '-device', 'help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const d of ['virtio-blk-device', 'virtio-blk-pci', 'virtio-rng-device', 'virtio-rng-pci']) assert.match(r.stdout, new RegExp(`"${d}"`));
});
