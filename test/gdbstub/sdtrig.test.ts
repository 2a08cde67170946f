import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestConsole } from '../helpers/console.js';

const PROBE = fileURLToPath(new URL('./sdtrig-probe.S', import.meta.url));

/** Assemble the probe into a flat binary for -bios (loaded at 0x80000000). */
function buildProbe(dir: string): string {
  const obj = join(dir, 'probe.o');
  const elf = join(dir, 'probe.elf');
  const bin = join(dir, 'probe.bin');
  execFileSync('riscv64-unknown-elf-as', ['-march=rv64imafdc_zicsr_zifencei', '-o', obj, PROBE]);
  execFileSync('riscv64-unknown-elf-ld', ['-Ttext=0x80000000', '-o', elf, obj]);
  execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', elf, bin]);
  return bin;
}

test("a guest programs the Sdtrig triggers itself and sees what QEMU 7.2's guests see", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-sdtrig-'));
  try {
    const bin = buildProbe(dir);
    // QEMU writes the UART to a file: through a pipe it drops bytes when the pipe is full.
    const qout = join(dir, 'qemu.txt');
    const q = spawnSync('qemu-system-riscv64', ['-M', 'virt', '-m', '128M', '-display', 'none', '-monitor', 'none', '-serial', `file:${qout}`, '-bios', bin], {
      encoding: 'latin1',
      timeout: 60_000,
    });
    assert.equal(q.status, 0, q.stderr);
    const qemuOutput = readFileSync(qout, 'latin1');
    const s = GuestConsole.run(['-M', 'virt', '-m', '128M', '-nographic', '-bios', bin]);
    assert.equal(await s.exited, 0, s.stderr);
    assert.equal(s.output, qemuOutput);
    // The probe's findings, spelled out: types 2 and 6, two triggers, breakpoint exceptions (cause 3) with mtval 0.
    assert.match(s.output, /^tinfo=0000000000000044$/m);
    assert.match(s.output, /^tselect\(after 5\)=0000000000000000$/m);
    assert.match(s.output, /^tdata1\(all bits\)=200000000000005f$/m);
    assert.match(s.output, /^exec mepc-here=0000000000000000\nexec mtval=0000000000000000$/m);
    assert.equal((s.output.match(/^trap cause=0000000000000003$/gm) ?? []).length, 4);
    assert.match(s.output, /done\n$/);
    // The triggers live in the hart: the same with the hart in a worker thread.
    const mt = GuestConsole.run(['-M', 'virt', '-m', '128M', '-nographic', '-accel', 'tcg,thread=multi', '-bios', bin]);
    assert.equal(await mt.exited, 0, mt.stderr);
    assert.equal(mt.output, qemuOutput);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
