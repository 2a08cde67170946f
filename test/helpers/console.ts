/**
 * Drive `tsvmm run` through a pipe console, expect-style: wait for text,
 * type commands, collect the exit code. Used by the firmware and Linux
 * acceptance tests.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const TSVMM = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));

/** The longest a console's process may live (longer than any test's own timeout). */
const LIFETIME_MS = 30 * 60_000;

export class GuestConsole {
  output = '';
  stderr = '';
  private cursor = 0;
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number>;
  /** Resolves once the process has exited and its stdout and stderr pipes are drained. */
  readonly closed: Promise<void>;

  private constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('latin1');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d: string) => {
      this.output += d;
      this.wakeAll();
    });
    proc.stderr.on('data', (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.wakeAll();
        resolve(code ?? (signal ? 128 : 1));
      });
    });
    this.closed = new Promise((resolve) => proc.on('close', () => resolve()));
  }

  /** `tsvmm run ARGS...` with stdin/stdout as pipes. */
  static run(args: string[], env: NodeJS.ProcessEnv = process.env): GuestConsole {
    return GuestConsole.spawn(process.execPath, [TSVMM, 'run', ...args], env);
  }

  /**
   * Any command (e.g. tsvmm under `script` for a pseudo-terminal) with pipes. Killed after
   * LIFETIME_MS whatever the test does: a test's own timeout fails it but leaves the child, and
   * a guest spinning forever then kept the test file's process (and the run) alive.
   */
  static spawn(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): GuestConsole {
    return new GuestConsole(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env, timeout: LIFETIME_MS, killSignal: 'SIGKILL' }));
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Wait until `pattern` appears in output not yet consumed; returns the text
   * from the previous cursor through the match and moves the cursor past it.
   */
  async expect(pattern: string | RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const rest = this.output.slice(this.cursor);
      let end = -1;
      if (typeof pattern === 'string') {
        const i = rest.indexOf(pattern);
        if (i >= 0) end = i + pattern.length;
      } else {
        const m = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
        if (m) end = m.index + m[0].length;
      }
      if (end >= 0) {
        this.cursor += end;
        return rest.slice(0, end);
      }
      if (exited) throw new Error(`guest exited before ${String(pattern)} appeared; output tail:\n${this.output.slice(-2000)}\nstderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(pattern)}; output tail:\n${this.output.slice(-2000)}\nstderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(text: string): void {
    this.proc.stdin.write(text);
  }

  /** Type a command line at a prompt (U-Boot wants CR). */
  line(cmd: string, eol = '\r'): void {
    this.send(cmd + eol);
  }

  /** Wait for the process to exit (killing it after `timeoutMs`). */
  async exitCode(timeoutMs = 30_000): Promise<number> {
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}
