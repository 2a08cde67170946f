/**
 * `-netdev user`: user-mode networking served by Debian's passt, which
 * tsvmm starts for the run and stops when it ends. passt gets one end of a
 * socketpair as its already-connected client (`-F 3`: Node's stdio pipes
 * are UNIX socketpairs), so there is no socket file to place, race for or
 * clean up, and nobody else can connect to it. The frames on that socket use
 * QEMU's length-prefixed protocol, the same as `-netdev stream` to passt.
 *
 * Addresses are QEMU's slirp defaults, set explicitly so the guest sees the
 * same network whatever the host's: guest 10.0.2.15/24, gateway 10.0.2.2,
 * which passt maps to the host's loopback (a guest connecting to
 * 10.0.2.2:PORT reaches 127.0.0.1:PORT on the host), DNS 10.0.2.3 forwarded to
 * the host's first resolver.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Socket } from 'node:net';
import { NetdevSpecError, StreamLink } from './backend.js';

export const USER_NET = {
  guest: '10.0.2.15',
  prefix: 24,
  gateway: '10.0.2.2',
  dns: '10.0.2.3',
} as const;

export interface HostForward {
  proto: 'tcp' | 'udp';
  /** Host address to bind ('' = all, as in QEMU). */
  hostAddr: string;
  hostPort: number;
  guestPort: number;
}

/** Find an executable on PATH (null when absent). */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** passt's command line for our addresses and forwards (exported for the benchmark, which runs QEMU on the same passt). */
export function passtArgs(forwards: readonly HostForward[]): string[] {
  const args = ['--foreground', '--quiet', '-a', USER_NET.guest, '-n', String(USER_NET.prefix), '-g', USER_NET.gateway];
  args.push('--dns-forward', USER_NET.dns, '-D', USER_NET.dns);
  for (const f of forwards) {
    const spec = `${f.hostAddr ? `${f.hostAddr}/` : ''}${f.hostPort}:${f.guestPort}`;
    args.push(f.proto === 'tcp' ? '-t' : '-u', spec);
  }
  return args;
}

export class PasstLink extends StreamLink {
  readonly type = 'user';
  private proc: ChildProcess | null;
  private stderrTail = '';

  constructor(id: string, forwards: readonly HostForward[], log: (message: string) => void, pathEnv = process.env.PATH) {
    super(id, log);
    const exe = findOnPath('passt', pathEnv);
    if (!exe) throw new NetdevSpecError(`-netdev user,id=${id}: passt is not installed (user-mode networking needs it: apt-get install passt)`);
    // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
    const proc = process.getBuiltinModule('node:child_process').spawn(exe, [...passtArgs(forwards), '--fd', '3'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      // passt complains about syslog when it has none; keep the rest for the exit message.
      const lines = d.split('\n').filter((l) => l && !/syslog/.test(l));
      this.stderrTail = [...this.stderrTail.split('\n'), ...lines].filter(Boolean).slice(-3).join('\n');
    });
    proc.on('error', (e) => log(`tsvmm: netdev ${id}: passt: ${e.message}`));
    proc.on('exit', (code, signal) => {
      this.proc = null;
      if (this.closed) return;
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const tail = this.stderrTail ? ` (${this.stderrTail.replace(/\n/g, '; ')})` : '';
      log(`tsvmm: netdev ${id}: passt ${why}${tail}; link down, the guest keeps running`);
      this.sock?.destroy();
    });
    this.adopt(proc.stdio[3] as Socket);
  }

  /** passt's process id (tests stop it to see the guest lose its link). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.proc?.kill('SIGTERM');
    this.proc = null;
  }
}
