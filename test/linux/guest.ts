/**
 * Shared setup for the Linux acceptance tests: the guest from
 * `npm run guest:linux` (built on first use; it downloads Debian packages),
 * disk images, and a shell session with command/marker helpers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestConsole } from '../helpers/console.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const VMLINUX = join(ROOT, 'guests/linux/vmlinux');
export const INITRD = join(ROOT, 'guests/linux/initrd.gz');
export const READY = /tsvmm-guest-ready: (\S+) cpus=(\d+)/;

export const VMLINUX_BPO = join(ROOT, 'guests/linux-bpo/vmlinux');
export const INITRD_BPO = join(ROOT, 'guests/linux-bpo/initrd.gz');

/** Build guests/linux-bpo (Debian 13's backports kernel, with the RISC-V IOMMU driver) if missing or stale. */
export function ensureBackportsGuest(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts/guest-linux.mjs'), '--backports'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
  if (!existsSync(VMLINUX_BPO) || !existsSync(INITRD_BPO)) throw new Error('npm run guest:linux -- --backports did not produce the guest');
}

/** Build guests/linux if it is missing or stale (the script is a no-op otherwise). */
export function ensureGuest(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts/guest-linux.mjs')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
  if (!existsSync(VMLINUX) || !existsSync(INITRD)) throw new Error('npm run guest:linux did not produce the guest');
}

/** A raw image of `mib` MiB filled with a deterministic pseudo-random pattern. */
export function rawImage(mib: number, seed: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-linux-'));
  const img = join(dir, 'disk.img');
  const buf = Buffer.alloc(mib << 20);
  let h = createHash('sha256').update(seed).digest();
  for (let off = 0; off < buf.length; off += 32) {
    h.copy(buf, off);
    h = createHash('sha256').update(h).digest();
  }
  writeFileSync(img, buf);
  return img;
}

export function md5(buf: Uint8Array): string {
  return createHash('md5').update(buf).digest('hex');
}

export function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

export function linuxArgs(smp: number, extra: string[]): string[] {
  return ['-machine', 'virt', '-m', '512M', '-smp', String(smp), '-kernel', VMLINUX, '-initrd', INITRD, '-append', 'console=ttyS0', '-nographic', ...extra];
}

/** A busybox shell on the guest console. */
export class Shell {
  private n = 0;
  constructor(readonly g: GuestConsole) {}

  /**
   * Run a command line and return its output. The command is followed by an
   * echo of a marker the shell has to compute, so neither the tty's echo of
   * the typed line nor an early prompt can be mistaken for completion.
   */
  async run(cmd: string, timeoutMs = 120_000): Promise<string> {
    const k = ++this.n;
    const tail = `echo @@$((${k}+1000))@@`;
    this.g.send(`${cmd}; ${tail}\n`);
    const out = (await this.g.expect(`@@${k + 1000}@@`, timeoutMs)).replace(/\r/g, '');
    // The output starts after the tty's echo of the typed line (which may come
    // early, before the prompt) and ends at the computed marker.
    const echoed = out.lastIndexOf(tail);
    const start = echoed >= 0 ? out.indexOf('\n', echoed) + 1 : 0;
    return out.slice(start, out.length - `@@${k + 1000}@@`.length);
  }

  /**
   * Wait for the first prompt after the ready line, then keep the kernel's
   * console messages out of command output: on a slow host the kernel warns
   * ("hrtimer: interrupt took N ns") in the middle of whatever a command
   * prints. Only the console level changes; `dmesg` still has every message.
   */
  async prompt(timeoutMs = 60_000): Promise<void> {
    await this.g.expect('# ', timeoutMs);
    await this.run('echo 1 > /proc/sys/kernel/printk');
  }
}
