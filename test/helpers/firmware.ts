/**
 * Test support for bare-metal firmware (for -bios, loaded at 0x80000000): an image assembled
 * and linked from `asm` with Debian's riscv64-unknown-elf binutils in a fresh temporary
 * directory, UART print routines for probes whose output is compared with QEMU's, and a run
 * of QEMU 7.2 (qemu-system-riscv64) that returns what such a probe prints.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The image's path. */
export function firmware(asm: string, march = 'rv64imac_zicsr'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-fw-'));
  writeFileSync(join(dir, 'fw.S'), asm);
  const run = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
  };
  run('riscv64-unknown-elf-as', [`-march=${march}`, '-o', join(dir, 'fw.o'), join(dir, 'fw.S')]);
  // Linked, so that code may address data in other sections; the entry is the image's start.
  run('riscv64-unknown-elf-ld', ['-Ttext=0x80000000', '-e', '0x80000000', '-o', join(dir, 'fw.elf'), join(dir, 'fw.o')]);
  run('riscv64-unknown-elf-objcopy', ['-O', 'binary', join(dir, 'fw.elf'), join(dir, 'fw.bin')]);
  return join(dir, 'fw.bin');
}

/**
 * Routines for a probe to append: `puts` prints the NUL-terminated string at a0 on the virt
 * machine's UART, `puthex` a1 as 16 hex digits and a newline (both clobber t0-t2 and a0),
 * `finish` prints "done" and powers the machine off (exit code 0).
 */
export const PROBE_LIB = `
.text
finish:
  la a0, 9f
  call puts
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
.section .rodata
9: .asciz "done\\n"
.text
puts:
  li t1, 0x10000000
1:
  lbu t0, 0(a0)
  beqz t0, 2f
  sb t0, 0(t1)
  addi a0, a0, 1
  j 1b
2:
  ret

puthex:
  li t2, 60
1:
  srl t0, a1, t2
  andi t0, t0, 15
  li t1, 10
  blt t0, t1, 2f
  addi t0, t0, 'a' - 10
  j 3f
2:
  addi t0, t0, '0'
3:
  li t1, 0x10000000
  sb t0, 0(t1)
  addi t2, t2, -4
  bgez t2, 1b
  li t0, '\\n'
  sb t0, 0(t1)
  ret
`;

/** What firmware `bin` prints on the UART of QEMU 7.2's virt machine (-m 128M) before it powers off. */
export function qemuSerial(bin: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-'));
  try {
    // QEMU writes the UART to a file: through a pipe it drops bytes when the pipe is full.
    const out = join(dir, 'serial.txt');
    const q = spawnSync('qemu-system-riscv64', ['-M', 'virt', '-m', '128M', '-display', 'none', '-monitor', 'none', '-serial', `file:${out}`, '-bios', bin], {
      encoding: 'latin1',
      timeout: 60_000,
    });
    assert.equal(q.status, 0, q.stderr);
    return readFileSync(out, 'latin1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
