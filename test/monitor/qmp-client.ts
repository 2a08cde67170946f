/**
 * A plain QMP client: it knows JSON and sockets, nothing of tsvmm. The shape
 * test runs the same script through it against qemu-system-riscv64 and
 * tsvmm. Each step sends a JSON value (or raw text) and collects what comes
 * back up to the reply: the events first, then the reply (or EOF).
 */
import { connect, type Socket } from 'node:net';

export type Msg = Record<string, unknown>;

export interface StepResult {
  events: Msg[];
  reply: Msg | 'eof';
}

export class QmpClient {
  private buf = '';
  private readonly inbox: Msg[] = [];
  private waiter: (() => void) | null = null;
  private eof = false;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.inbox.push(JSON.parse(line) as Msg);
      }
      this.wake();
    });
    sock.on('close', () => {
      this.eof = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  static async connect(path: string, timeoutMs = 60_000): Promise<QmpClient> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await new Promise<Socket>((resolve, reject) => {
          const c = connect(path);
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        });
        return new QmpClient(s);
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next message, or 'eof'. */
  async next(timeoutMs = 30_000): Promise<Msg | 'eof'> {
    const end = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.eof) return 'eof';
      if (Date.now() > end) throw new Error('QMP: no reply');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
    }
    return this.inbox.shift()!;
  }

  send(v: unknown): void {
    this.sock.write(typeof v === 'string' ? v : JSON.stringify(v) + '\n');
  }

  /** Send, then read events until the reply. */
  async step(v: unknown): Promise<StepResult> {
    this.send(v);
    const events: Msg[] = [];
    for (;;) {
      const m = await this.next();
      if (m !== 'eof' && 'event' in m) events.push(m);
      else return { events, reply: m };
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A value's shape: key sets and value types, recursively (array: the first element's shape). */
export function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? ['array', shape(v[0])] : ['array'];
  if (typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) o[k] = shape((v as Msg)[k]);
    return o;
  }
  return typeof v;
}
