/**
 * The host-process conventions of `tsvmm run`: -pidfile, -D (log file) and
 * -daemonize. Node cannot fork, so -daemonize starts a detached copy of the
 * command (without -daemonize) and the parent exits 0 once that copy reports
 * the machine is set up, or with the copy's error and exit code if setup
 * failed — what QEMU's parent does after its fork.
 */
import { appendFileSync, openSync, closeSync, unlinkSync, writeFileSync } from 'node:fs';
import { UsageError } from './command.js';

export const DAEMON_ENV = 'TSVMM_DAEMON_CHILD';

/** In the detached copy: tell the parent the machine is set up (no-op elsewhere). */
export function daemonReady(): void {
  if (process.env[DAEMON_ENV] === '1' && process.send) {
    process.send('ready');
    process.disconnect();
  }
}

export async function daemonize(argv: readonly string[]): Promise<number> {
  const args = argv.filter((a) => a !== '-daemonize' && a !== '--daemonize');
  const bin = process.argv[1]!;
  // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
  const child = process.getBuiltinModule('node:child_process').spawn(process.execPath, [...process.execArgv, bin, 'run', ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (err.length < 65536) err += d;
  });
  return new Promise<number>((resolve) => {
    child.once('message', () => {
      child.stderr!.destroy();
      child.unref();
      child.disconnect();
      resolve(0);
    });
    child.once('exit', (code) => {
      process.stderr.write(err);
      resolve(code ?? 1);
    });
  });
}

/** -pidfile: written once the machine is set up, removed when the run ends. */
export function writePidfile(path: string): () => void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (e) {
    throw new UsageError(`cannot create PID file: ${(e as Error).message}`, 1);
  }
  return () => {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
}

/** -D: a logger appending to the file (checked now, so a bad path is a setup error). */
export function fileLogger(path: string): (line: string) => void {
  try {
    closeSync(openSync(path, 'a'));
  } catch (e) {
    throw new UsageError(`-D ${path}: ${(e as Error).message}`, 1);
  }
  return (line) => appendFileSync(path, line + '\n');
}
