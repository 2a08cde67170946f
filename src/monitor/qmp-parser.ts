/**
 * QMP's wire format, parsed without touching anything: a byte stream of JSON
 * objects (no framing; QEMU's streamer splits on balanced braces), each a
 * request `{"execute": NAME, "arguments": {...}, "id": ANY}` (or "exec-oob").
 *
 * Limits keep memory bounded whatever a client sends: a message larger than
 * MAX_MESSAGE bytes or nested deeper than MAX_DEPTH is dropped as it streams
 * (its bytes are not kept) and answered with one error; the splitter then
 * resynchronises at the end of that value. Every failure has a typed reason
 * and the parser counts them.
 */

export const MAX_MESSAGE = 1 << 20;
export const MAX_DEPTH = 64;

export type QmpParseFailure = 'json' | 'not-object' | 'bad-execute' | 'unexpected-member' | 'bad-arguments' | 'too-large' | 'too-deep';

export type QmpInput =
  | { kind: 'request'; execute: string; args: Record<string, unknown>; id?: unknown; oob: boolean }
  | { kind: 'error'; reason: QmpParseFailure; desc: string; id?: unknown };

/**
 * Splits the byte stream into top-level JSON values. Strings are tracked so
 * braces inside them do not count; whitespace between values is skipped; a
 * top-level scalar (`1`, `"x"`) ends at whitespace or the next value.
 */
export class QmpStreamSplitter {
  private buf = new Uint8Array(256);
  private len = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private scalar = false;
  private dropping: QmpParseFailure | null = null;
  private size = 0;
  readonly failures: Record<QmpParseFailure, number> = {
    json: 0,
    'not-object': 0,
    'bad-execute': 0,
    'unexpected-member': 0,
    'bad-arguments': 0,
    'too-large': 0,
    'too-deep': 0,
  };

  constructor(private readonly emit: (input: QmpInput) => void) {}

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.byte(bytes[i]!);
  }

  private byte(b: number): void {
    const idle = this.depth === 0 && !this.inString && !this.scalar;
    if (idle) {
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) return;
      this.size = 0;
      this.dropping = null;
      if (b !== 0x7b && b !== 0x5b && b !== 0x22) this.scalar = true;
    } else if (this.scalar && this.depth === 0 && !this.inString && (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || b === 0x7b || b === 0x5b)) {
      this.scalar = false;
      this.finish();
      this.byte(b);
      return;
    }
    this.size++;
    if (this.dropping === null) {
      if (this.size > MAX_MESSAGE) this.startDrop('too-large');
      else {
        if (this.len === this.buf.length) {
          const bigger = new Uint8Array(Math.min(this.buf.length * 2, MAX_MESSAGE));
          bigger.set(this.buf);
          this.buf = bigger;
        }
        this.buf[this.len++] = b;
      }
    }
    if (this.inString) {
      if (this.escape) this.escape = false;
      else if (b === 0x5c) this.escape = true;
      else if (b === 0x22) {
        this.inString = false;
        if (this.depth === 0 && !this.scalar) this.finish();
      }
      return;
    }
    if (b === 0x22) this.inString = true;
    else if (b === 0x7b || b === 0x5b) {
      this.depth++;
      if (this.depth > MAX_DEPTH && this.dropping === null) this.startDrop('too-deep');
    } else if (b === 0x7d || b === 0x5d) {
      this.depth--;
      if (this.depth <= 0) {
        this.depth = 0;
        this.finish();
      }
    }
  }

  private startDrop(reason: QmpParseFailure): void {
    this.dropping = reason;
    this.len = 0;
    this.buf = new Uint8Array(256);
  }

  private finish(): void {
    if (this.dropping !== null) {
      const reason = this.dropping;
      this.dropping = null;
      this.fail(reason, reason === 'too-large' ? `JSON message too large (more than ${MAX_MESSAGE} bytes)` : `JSON message nested too deeply (more than ${MAX_DEPTH} levels)`);
      return;
    }
    const text = Buffer.from(this.buf.buffer, 0, this.len).toString('utf8');
    this.len = 0;
    if (this.buf.length > 4096) this.buf = new Uint8Array(256);
    this.emit(parseQmpRequest(text, this.failures));
  }

  private fail(reason: QmpParseFailure, desc: string): void {
    this.failures[reason]++;
    this.emit({ kind: 'error', reason, desc });
  }
}

/** One JSON text to a request or a typed error (QEMU's wording for each). */
export function parseQmpRequest(text: string, counters?: Record<QmpParseFailure, number>): QmpInput {
  const fail = (reason: QmpParseFailure, desc: string, id?: unknown): QmpInput => {
    if (counters) counters[reason]++;
    return id === undefined ? { kind: 'error', reason, desc } : { kind: 'error', reason, desc, id };
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return fail('json', `JSON parse error, ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('not-object', 'QMP input must be a JSON object');
  const o = v as Record<string, unknown>;
  const id = o.id;
  for (const k of Object.keys(o)) {
    if (k !== 'execute' && k !== 'exec-oob' && k !== 'arguments' && k !== 'id' && k !== 'control') {
      return fail('unexpected-member', `QMP input member '${k}' is unexpected`, id);
    }
  }
  const oob = o['exec-oob'] !== undefined;
  const name = oob ? o['exec-oob'] : o.execute;
  if (o.execute !== undefined && oob) return fail('bad-execute', "QMP input must have either member 'execute' or 'exec-oob'", id);
  if (name === undefined) return fail('bad-execute', "QMP input lacks member 'execute'", id);
  if (typeof name !== 'string') return fail('bad-execute', `QMP input member '${oob ? 'exec-oob' : 'execute'}' must be a string`, id);
  const args = o.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return fail('bad-arguments', "QMP input member 'arguments' must be an object", id);
  return { kind: 'request', execute: name, args: args as Record<string, unknown>, id, oob };
}
