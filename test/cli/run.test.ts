import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BootError, VirtMachine } from '../../src/machine/virt/virt.js';
import { firmware } from '../helpers/firmware.js';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));
const MiB = 1024 * 1024;

function run(args: string[], timeout = 60_000) {
  return spawnSync(process.execPath, [bin, 'run', ...args], { encoding: 'utf8', timeout, input: '' });
}

function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${stderr}`);
  return lines[0]!;
}


const finisher = (value: string): string => `
  .text
  li t0, 0x100000
  li t1, ${value}
  sw t1, 0(t0)
1: j 1b
`;

test('the exit code is the guest finisher code; a0/a1/a2 are set by the reset ROM', () => {
  assert.equal(run(['-bios', firmware(finisher('0x5555')), '-serial', 'none']).status, 0);
  assert.equal(run(['-bios', firmware(finisher('(42 << 16) | 0x3333')), '-serial', 'none']).status, 42);
  assert.equal(run(['-bios', firmware(finisher('0x7777')), '-no-reboot', '-serial', 'none']).status, 0);
  // Fail with code a1 >> 20 (the DTB address 0x8fe00000 >> 20 = 0x8fe) only if a0 == 0 and a2 == 0x1028.
  const regs = firmware(`
  .text
  li t0, 0x1028
  bne a2, t0, bad
  bnez a0, bad
  srli t1, a1, 20
  slli t1, t1, 16
  li t2, 0x3333
  or t1, t1, t2
  li t0, 0x100000
  sw t1, 0(t0)
bad:
  li t0, 0x100000
  li t1, (1 << 16) | 0x3333
  sw t1, 0(t0)
`);
  assert.equal(run(['-bios', regs, '-serial', 'none']).status, 0x8fe & 0xff);
});

test('a guest reset without -no-reboot restarts the machine from the reset vector', () => {
  // First boot: RAM word at 0x80100000 is 0 -> set it and reset; second boot sees 1 -> poweroff.
  const fw = firmware(`
  .text
  li t0, 0x80100000
  lw t1, 0(t0)
  li t2, 0x100000
  bnez t1, second
  li t1, 1
  sw t1, 0(t0)
  li t1, 0x7777
  sw t1, 0(t2)
1: j 1b
second:
  li t1, (7 << 16) | 0x3333
  sw t1, 0(t2)
`);
  assert.equal(run(['-bios', fw, '-serial', 'none']).status, 7);
});

test('serial output reaches a file backend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-run-'));
  const fw = firmware(`
  .text
  li t0, 0x10000000
  li t1, 0x4f
  sb t1, 0(t0)
  li t1, 0x4b
  sb t1, 0(t0)
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
`);
  const out = join(dir, 'console.txt');
  assert.equal(run(['-bios', fw, '-serial', `file:${out}`]).status, 0);
  assert.equal(spawnSync('cat', [out], { encoding: 'utf8' }).stdout, 'OK');
});

test('-icount gives a deterministic run: the same mtime readings twice', () => {
  // Reads mtime three times around a busy loop and fails with the low byte of the last difference.
  const fw = firmware(`
  .text
  li t0, 0x200bff8
  ld t1, 0(t0)
  li t3, 100000
2: addi t3, t3, -1
  bnez t3, 2b
  ld t2, 0(t0)
  sub t2, t2, t1
  andi t2, t2, 0xff
  slli t2, t2, 16
  li t4, 0x3333
  or t2, t2, t4
  li t0, 0x100000
  sw t2, 0(t0)
`);
  const a = run(['-bios', fw, '-serial', 'none', '-icount', 'shift=0']).status;
  const b = run(['-bios', fw, '-serial', 'none', '-icount', 'shift=0']).status;
  assert.equal(a, b);
});

test('bad input: one clear line on stderr and exit 1, before the guest runs', () => {
  const cases: [string[], RegExp][] = [
    [['-bios', '/nonexistent/fw.bin'], /could not load firmware '\/nonexistent\/fw.bin': No such file or directory/],
    [['-m', 'lots'], /-m lots: invalid RAM size/],
    [['-smp', '0'], /-smp 0: invalid CPU count/],
    [['-frobnicate'], /unknown option '-frobnicate'/],
    [['-device', 'no-such-device'], /unknown device 'no-such-device'/],
    [['-machine', 'pc'], /unsupported machine type 'pc'/],
    [['-kernel', '/nonexistent/Image', '-bios', 'none'], /could not load kernel/],
    [['-dtb', '/bin/true'], /device tree '\/bin\/true': not a device tree blob/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), re);
    assert.equal(r.stdout, '');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-run-'));
  const corrupt = join(dir, 'corrupt.elf');
  writeFileSync(corrupt, Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
  const r = run(['-bios', corrupt]);
  assert.equal(r.status, 1);
  assert.match(oneLine(r.stderr), /truncated ELF header/);
});

test('a missing default firmware says how to install it', () => {
  const m = new VirtMachine({ ramSize: 32 * MiB, smp: 1 });
  assert.throws(
    () => m.boot({ defaults: { uboot: '/nonexistent/u-boot.bin' } }),
    (e: unknown) => e instanceof BootError && /apt-get install u-boot-qemu/.test(e.message),
  );
  assert.throws(
    () => m.boot({ kernel: '/bin/true', defaults: { fwDynamic: '/nonexistent/fw_dynamic.bin' } }),
    (e: unknown) => e instanceof BootError && /apt-get install opensbi/.test(e.message),
  );
});

test('on a terminal the console is raw and Ctrl-A h / Ctrl-A x work (via script(1) for a pty)', { timeout: 120_000 }, async () => {
  const { GuestConsole, TSVMM } = await import('../helpers/console.js');
  const s = GuestConsole.spawn('script', ['-qfec', `${process.execPath} ${TSVMM} run -m 64M`, '/dev/null']);
  try {
    await s.expect(/Hit any key to stop autoboot/);
    s.send(' ');
    await s.expect(/=> /);
    s.send('\x01h');
    await s.expect(/Ctrl-A x\s+quit the emulator/);
    s.send('\x01x');
    await s.expect(/terminating on signal from console/);
    assert.equal(await s.exited, 0);
  } finally {
    s.kill();
  }
});

test('-serial tcp::0,server waits for a client, then the console runs over the socket', { timeout: 60_000 }, async () => {
  const { spawn } = await import('node:child_process');
  const { connect } = await import('node:net');
  const fw = firmware(`
  .text
  li t0, 0x10000000
1: lbu t1, 5(t0)        # LSR: wait for a received byte
  andi t1, t1, 1
  beqz t1, 1b
  lbu t1, 0(t0)         # echo it back, then power off
  sb t1, 0(t0)
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
`);
  const child = spawn(process.execPath, [bin, 'run', '-bios', fw, '-serial', 'tcp::0,server'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr += d;
      const m = /waiting for connection on tcp:127\.0\.0\.1:(\d+),server/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
  });
  const sock = connect(port, '127.0.0.1');
  let got = '';
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => (got += d));
  sock.on('error', () => {});
  sock.write('Z');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  sock.destroy();
  assert.equal(code, 0);
  assert.equal(got, 'Z');
});

test('-drive if=pflash backs a flash bank; a wrong-sized image is one clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-run-'));
  const img = join(dir, 'flash1.img');
  const bytes = new Uint8Array(32 * MiB);
  bytes.set([0x33, 0x33, 0x2a, 0x00]); // (42 << 16) | 0x3333, little-endian
  writeFileSync(img, bytes);
  const fw = firmware(`
  .text
  li t0, 0x22000000     # bank 1
  lw t1, 0(t0)
  li t0, 0x100000
  sw t1, 0(t0)
`);
  assert.equal(run(['-bios', fw, '-serial', 'none', '-drive', `if=pflash,unit=1,file=${img},format=raw`]).status, 42);
  const small = join(dir, 'small.img');
  writeFileSync(small, new Uint8Array(4096));
  const r = run(['-bios', fw, '-drive', `if=pflash,file=${small}`]);
  assert.equal(r.status, 1);
  assert.match(oneLine(r.stderr), /virt\.flash0: .* requires exactly 33554432 bytes/);
});

test("runStarting: once per run, before the machine is built, or after its hart realms' start with -smp 2", async () => {
  const { main } = await import('../../src/cli/main.js');
  const fw = firmware(finisher('0x5555'));
  for (const smp of ['1', '2']) {
    let calls = 0;
    const code = await main(['run', '-bios', fw, '-smp', smp, '-serial', 'none', '-monitor', 'none', '-display', 'none'], { runStarting: () => void calls++ });
    assert.equal(code, 0, `-smp ${smp}`);
    assert.equal(calls, 1, `-smp ${smp}`);
  }
  // A run that only prints its help starts no guest.
  let calls = 0;
  assert.equal(await main(['run', '-help'], { runStarting: () => void calls++ }), 0);
  assert.equal(calls, 0);
});
