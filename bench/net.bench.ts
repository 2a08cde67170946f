/**
 * net.tcp_guest_to_host_mbps: a bulk TCP transfer from the Linux guest
 * (`npm run guest:linux`, virt -m 512M -smp 1, virtio-net-device, DHCP from
 * passt) to a sink on the host's 127.0.0.1, reached as 10.0.2.2: the guest
 * runs `dd if=/dev/zero | nc`, the sink counts what arrives in the WINDOW_S
 * seconds after the first byte. tsvmm runs `-netdev user` (its own passt);
 * QEMU 7.2 in the same run talks to a passt this benchmark starts with the
 * same options (`-netdev stream,...,addr.type=unix` to passt's socket, the way
 * passt documents for QEMU 7.2).
 *
 * net.tcp_guest_to_host_mbit_per_cpu_s divides the bits by the CPU time the
 * VMM and its passt used in the window: the figure that does not depend on
 * how loaded the host is.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from './harness.js';
import { round, TSVMM_NODE_ARGS } from './harness.js';
import { findOnPath, passtArgs } from '../src/net/passt.js';

export const group = 'net';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VMLINUX = `${ROOT}guests/linux/vmlinux`;
const INITRD = `${ROOT}guests/linux/initrd.gz`;
const QEMU = '/usr/bin/qemu-system-riscv64';
const WINDOW_S = 20;
const BOOT_LIMIT_S = 3600;

/** utime + stime of a process in seconds (0 when it is gone). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(readFileSync(`/proc/${d}/stat`, 'latin1'));
      if (m && m[1] === comm && Number(m[2]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

interface Result {
  mbps: number;
  mbitPerCpuS: number;
}

/** Boot, wait for DHCP, stream zeros to the sink for WINDOW_S seconds. `extraPids` are processes whose CPU time counts too (passt). */
async function measure(cmd: string, args: string[], extraPids: (vmm: number) => number[]): Promise<Result> {
  const sink = createServer();
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const port = (sink.address() as AddressInfo).port;
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err = (err + d).slice(-2000)));
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('latin1');
  child.stdout!.on('data', (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const expect = async (text: string, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > end || child.exitCode !== null) {
        const why = child.exitCode !== null ? `exited with ${child.exitCode}` : `not within ${ms / 1000} s`;
        throw new Error(`${cmd}: '${text}' did not appear (${why}); output tail:\n${out.slice(-800)}\nstderr:\n${err}`);
      }
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 1000);
      });
    }
    out = out.slice(out.indexOf(text) + text.length);
  };
  try {
    await expect('tsvmm-guest-ready:', BOOT_LIMIT_S * 1000);
    child.stdin!.write('\nfor i in $(seq 120); do ip -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; echo dhcp-$((1+1))-done\n');
    await expect('dhcp-2-done', 180_000);
    const done = new Promise<Result>((resolve) => {
      sink.once('connection', (s: Socket) => {
        let bytes = 0;
        let t0 = 0n;
        let cpu0 = 0;
        const pids = (): number[] => [child.pid!, ...extraPids(child.pid!)];
        s.on('data', (d: Buffer) => {
          if (t0 === 0n) {
            t0 = process.hrtime.bigint();
            cpu0 = pids().reduce((a, p) => a + cpuSeconds(p), 0);
            setTimeout(() => {
              const secs = Number(process.hrtime.bigint() - t0) / 1e9;
              const cpu = pids().reduce((a, p) => a + cpuSeconds(p), 0) - cpu0;
              s.destroy();
              resolve({ mbps: (bytes * 8) / secs / 1e6, mbitPerCpuS: (bytes * 8) / Math.max(cpu, 0.01) / 1e6 });
            }, WINDOW_S * 1000);
            return; // the first chunk starts the clock
          }
          bytes += d.length;
        });
        s.on('error', () => {});
      });
    });
    child.stdin!.write(`dd if=/dev/zero bs=65536 count=1000000 2>/dev/null | nc 10.0.2.2 ${port}; echo nc-$((2+3))-done\n`);
    const r = await done;
    child.stdin!.write('\npoweroff -f\n');
    return r;
  } finally {
    sink.close();
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  }
}

/** QEMU 7.2 on a passt started here with tsvmm's options, over passt's UNIX socket. */
async function measureQemu(common: string[]): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-passt-'));
  // passt binds its socket after dropping to nobody when started as root.
  chmodSync(dir, 0o777);
  const sock = join(dir, 'passt.socket');
  const passt = spawn(findOnPath('passt')!, [...passtArgs([]), '--socket', sock, '--one-off'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    return await measure(QEMU, [...common, '-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${sock}`, '-device', 'virtio-net-device,netdev=n0'], () => [passt.pid!]);
  } finally {
    passt.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(report: Report): Promise<void> {
  if (!findOnPath('passt')) throw new Error('net benchmark: passt is not installed (apt-get install passt)');
  execFileSync(process.execPath, [`${ROOT}scripts/guest-linux.mjs`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const common = ['-machine', 'virt', '-m', '512M', '-smp', '1', '-kernel', VMLINUX, '-initrd', INITRD, '-append', 'console=ttyS0', '-nographic'];
  const ours = await measure(process.execPath, [...TSVMM_NODE_ARGS, 'run', ...common, '-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0'], (vmm) => childrenNamed(vmm, 'passt'));
  if (existsSync(QEMU)) {
    const q = await measureQemu(common);
    report({ name: 'net.tcp_guest_to_host_mbps', value: round(ours.mbps, 2), unit: 'Mbit/s', baseline: round(q.mbps, 1), ratio: round(ours.mbps / q.mbps, 3) });
    report({ name: 'net.tcp_guest_to_host_mbit_per_cpu_s', value: round(ours.mbitPerCpuS, 2), unit: 'Mbit/CPU-s', baseline: round(q.mbitPerCpuS, 1), ratio: round(ours.mbitPerCpuS / q.mbitPerCpuS, 3) });
  } else {
    report({ name: 'net.tcp_guest_to_host_mbps', value: round(ours.mbps, 2), unit: 'Mbit/s' });
    report({ name: 'net.tcp_guest_to_host_mbit_per_cpu_s', value: round(ours.mbitPerCpuS, 2), unit: 'Mbit/CPU-s' });
  }
}
