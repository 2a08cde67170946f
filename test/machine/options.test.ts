import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError, parseRunArgs, parseSize } from '../../src/machine/options.js';

const MiB = 1024 * 1024;

test('QEMU sizes: suffixes, plain MiB numbers, fractions', () => {
  assert.equal(parseSize('256M'), 256 * MiB);
  assert.equal(parseSize('1G'), 1024 * MiB);
  assert.equal(parseSize('512'), 512 * MiB);
  assert.equal(parseSize('1.5G'), 1536 * MiB);
  assert.equal(parseSize('64MiB'), 64 * MiB);
  assert.equal(parseSize('abc'), null);
});

test('the usual command lines parse, with one or two dashes', () => {
  const c = parseRunArgs([
    '-machine', 'virt', '-m', '1G', '--smp', '2', '-bios', 'fw.bin', '-kernel', 'k', '-append', 'console=ttyS0',
    '-initrd', 'i', '-nographic', '-serial', 'tcp::4444,server,nowait', '-drive', 'file=d.img,if=none,format=raw,id=d0',
    '-device', 'virtio-blk-device,drive=d0', '-accel', 'tcg,thread=multi', '-icount', 'shift=3', '-d', 'unimp,guest_errors',
    '-no-reboot', '--debug-locks',
  ]);
  assert.equal(c.ramSize, 1024 * MiB);
  assert.equal(c.smp, 2);
  assert.equal(c.bios, 'fw.bin');
  assert.equal(c.append, 'console=ttyS0');
  assert.deepEqual(c.serial, [{
    kind: 'new', monitor: false,
    spec: { backend: 'socket', id: 'serial0', mux: false, addr: { type: 'inet', host: '127.0.0.1', port: 4444 }, server: true, wait: false, nodelay: false },
  }]);
  assert.deepEqual(c.drives, [{ file: 'd.img', if: 'none', format: 'raw', id: 'd0' }]);
  assert.deepEqual(c.devices, [{ driver: 'virtio-blk-device', props: { drive: 'd0' } }]);
  assert.equal(c.accelThread, 'multi');
  assert.equal(c.icountShift, 3);
  assert.deepEqual([...c.log], ['unimp', 'guest_errors']);
  assert.ok(c.noReboot && c.debugLocks && c.nographic);
  assert.equal(parseRunArgs(['-M', 'virt', '-m', 'size=128M']).ramSize, 128 * MiB);
  assert.equal(parseRunArgs(['-smp', 'cpus=4']).smp, 4);
  assert.equal(parseRunArgs(['-accel', 'tcg,jit=off']).accelJit, false);
  assert.equal(parseRunArgs(['-accel', 'tcg,thread=single,jit=on']).accelJit, true);
  assert.equal(parseRunArgs([]).accelJit, undefined);
  assert.equal(parseRunArgs(['-accel', 'tcg,regions=on']).accelRegions, true);
  assert.equal(parseRunArgs(['-accel', 'tcg,jit=on,regions=off']).accelRegions, false);
  assert.equal(parseRunArgs([]).accelRegions, undefined);
  assert.throws(() => parseRunArgs(['-accel', 'tcg,regions=yes']), /unsupported property 'regions=yes'/);
  assert.equal(parseRunArgs(['-accel', 'tcg,threaded=on']).accelThreaded, true);
  assert.equal(parseRunArgs([]).accelThreaded, undefined);
  assert.throws(() => parseRunArgs(['-accel', 'tcg,threaded=1']), /unsupported property 'threaded=1'/);
  assert.equal(parseRunArgs([]).ramSize, 256 * MiB);
  assert.deepEqual(parseRunArgs(['-serial', 'file:/tmp/x']).serial, [{ kind: 'new', monitor: false, spec: { backend: 'file', id: 'serial0', mux: false, path: '/tmp/x', append: false } }]);
  assert.deepEqual(parseRunArgs(['-f'], ['f']).rest, ['-f']);
});

test('bad input: unknown options, bad sizes and counts, wrong machine', () => {
  const bad: [string[], RegExp][] = [
    [['-frobnicate'], /unknown option '-frobnicate'/],
    [['-m', 'lots'], /-m lots: invalid RAM size/],
    [['-m', '0'], /invalid RAM size/],
    [['-m', '1M'], /at least 16 MiB/],
    [['-m', '64G'], /exceeds/],
    [['-m', '5G'], /at most 4096 MiB/],
    [['-smp', '0'], /invalid CPU count/],
    [['-smp', 'x'], /invalid CPU count/],
    [['-smp', '1000'], /at most/],
    [['-machine', 'pc'], /unsupported machine type 'pc'/],
    [['-accel', 'kvm'], /invalid accelerator/],
    [['-m'], /requires an argument/],
    [['-serial', 'pty'], /not supported by tsvmm/],
    [['-d', 'bogus'], /unknown log item/],
    [['stray'], /unexpected argument/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parseRunArgs(argv), (e: unknown) => e instanceof OptionError && re.test(e.message), argv.join(' '));
});
