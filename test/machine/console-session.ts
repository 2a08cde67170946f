/**
 * Drives `tsvmm run` (or any command) through pipes like `expect`: wait for a
 * pattern in the console output, then send input. Used by the boot tests and
 * the boot benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const TSVMM_BIN = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));

export class ConsoleSession {
  readonly child: ChildProcess;
  output = '';
  stderr = '';
  private waiters: { re: RegExp; from: number; resolve: (i: number) => void }[] = [];
  readonly exited: Promise<number | null>;
  private searchFrom = 0;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('latin1');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.output += d;
      this.check();
    });
    this.child.stderr!.on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  static tsvmm(args: string[]): ConsoleSession {
    return new ConsoleSession(process.execPath, [TSVMM_BIN, 'run', ...args]);
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      const m = w.re.exec(this.output.slice(w.from));
      if (!m) return true;
      w.resolve(w.from + m.index + m[0].length);
      return false;
    });
  }

  /** Wait for `re` in output produced after the previous match; rejects after timeoutMs or on exit. */
  expect(re: RegExp, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re}; output tail:\n${this.output.slice(-800)}\nstderr:\n${this.stderr}`)), timeoutMs);
      const w = {
        re,
        from: this.searchFrom,
        resolve: (end: number) => {
          clearTimeout(timer);
          this.searchFrom = end;
          resolve();
        },
      };
      this.waiters.push(w);
      this.check();
      void this.exited.then(() => {
        if (this.waiters.includes(w)) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error(`process exited while waiting for ${re}; output tail:\n${this.output.slice(-800)}\nstderr:\n${this.stderr}`));
        }
      });
    });
  }

  send(text: string): void {
    this.child.stdin!.write(text);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
