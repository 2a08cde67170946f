/**
 * virtio-9p throughput, tsvmm against QEMU 7.2 on the same host folder in
 * the same run (the guest from `npm run guest:linux`, virt -m 512M -smp 1,
 * virtio-9p-device, security_model=none, the Linux client's defaults):
 *
 * - 9p.seqread_mibps: `cat` of an 8 MiB file to /dev/null in the guest;
 * - 9p.small_files_per_s: 100 files created and written (`echo $i > f$i`)
 *   in a fresh directory.
 *
 * The machine these run on is shared, so time is the VMM process's CPU time
 * (user + system of every thread, from /proc/PID/stat) across the command,
 * not wall time: MiB (files) per CPU-second of the emulator. Booting is not
 * counted. One run each: a tsvmm boot takes minutes.
 */
import { spawn, execFileSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Report } from './harness.js';
import { round, TSVMM_NODE_ARGS } from './harness.js';

export const group = '9p';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VMLINUX = `${ROOT}guests/linux/vmlinux`;
const INITRD = `${ROOT}guests/linux/initrd.gz`;
const QEMU = '/usr/bin/qemu-system-riscv64';
const LIMIT_MS = 3_600_000;
const BIG_MIB = 8;
const SMALL_FILES = 100;
const TICK = 100; // USER_HZ: /proc/PID/stat counts in 1/100 s

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

class Vm {
  private out = '';
  private cursor = 0;
  private n = 0;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdout.setEncoding('latin1');
    this.child.stdout.on('data', (d: string) => (this.out += d));
  }
  get pid(): number {
    return this.child.pid!;
  }
  async expect(text: string): Promise<void> {
    const end = Date.now() + LIMIT_MS;
    for (;;) {
      const i = this.out.indexOf(text, this.cursor);
      if (i >= 0) {
        this.cursor = i + text.length;
        return;
      }
      if (Date.now() > end || this.child.exitCode !== null) throw new Error(`9p bench: no '${text}'; output tail:\n${this.out.slice(-600)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Run a shell command; returns the emulator's CPU seconds spent until its marker came back. */
  async timed(cmd: string): Promise<number> {
    const k = ++this.n;
    const c0 = cpuSeconds(this.pid);
    this.child.stdin.write(`${cmd}; echo @@$((${k}+7000))@@\n`);
    await this.expect(`@@${k + 7000}@@`);
    return cpuSeconds(this.pid) - c0;
  }
  stop(): void {
    this.child.stdin.write('poweroff -f\n');
    setTimeout(() => this.child.kill('SIGKILL'), 20_000).unref();
  }
}

async function measure(cmd: string, args: string[]): Promise<{ seqread: number; small: number }> {
  const vm = new Vm(cmd, args);
  try {
    await vm.expect('tsvmm-guest-ready:');
    await vm.timed('mkdir -p /mnt/h && mount -t 9p -o trans=virtio,version=9p2000.L share /mnt/h');
    await vm.timed('rm -rf /mnt/h/small; mkdir /mnt/h/small; cat /mnt/h/big.bin > /dev/null');
    const read = await vm.timed('cat /mnt/h/big.bin > /dev/null');
    const small = await vm.timed(`i=0; while [ $i -lt ${SMALL_FILES} ]; do echo $i > /mnt/h/small/f$i; i=$((i+1)); done`);
    return { seqread: BIG_MIB / Math.max(read, 1 / TICK), small: SMALL_FILES / Math.max(small, 1 / TICK) };
  } finally {
    vm.stop();
  }
}

export async function run(report: Report): Promise<void> {
  execFileSync(process.execPath, [`${ROOT}scripts/guest-linux.mjs`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-9p-bench-'));
  writeFileSync(join(dir, 'big.bin'), randomBytes(BIG_MIB << 20));
  const common = (fsdevArgs: string[]): string[] => [
    '-machine', 'virt', '-m', '512M', '-smp', '1', '-kernel', VMLINUX, '-initrd', INITRD, '-append', 'console=ttyS0 cryptomgr.notests', '-nographic',
    ...fsdevArgs,
  ];
  const fs = ['-fsdev', `local,id=fs0,path=${dir},security_model=none`, '-device', 'virtio-9p-device,fsdev=fs0,mount_tag=share'];
  try {
    const ours = await measure(process.execPath, [...TSVMM_NODE_ARGS, 'run', ...common(fs)]);
    const qemu = existsSync(QEMU) ? await measure(QEMU, common(fs)) : null;
    const put = (name: string, v: number, b: number | undefined, unit: string): void =>
      report(b === undefined ? { name, value: round(v, 2), unit } : { name, value: round(v, 2), unit, baseline: round(b, 2), ratio: round(v / b, 3) });
    put('9p.seqread_mibps', ours.seqread, qemu?.seqread, 'MiB/s (per emulator CPU-second)');
    put('9p.small_files_per_s', ours.small, qemu?.small, 'files/s (per emulator CPU-second)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
