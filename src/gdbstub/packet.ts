/**
 * GDB Remote Serial Protocol framing: a pure, incremental parser of the byte
 * stream a debugger sends, and the encoder of the stub's replies.
 *
 * The parser never throws and never holds more than `maxPacket` bytes of one
 * packet: bad input becomes a typed `error` event (counted), after which it
 * resynchronises on the next `$`. Framing (priv. to gdb's docs, "Overview"):
 *   $<data>#<2 hex digits: sum of the raw data bytes mod 256>
 * with `}` escaping the next byte (XOR 0x20) and `*` run-length encoding
 * (the previous byte repeated N-29 more times); `+`/`-` outside a packet are
 * acknowledgements and 0x03 is an interrupt request.
 */

export type PacketErrorReason =
  /** The two digits after `#` do not match the data (or are not hex). */
  | 'bad-checksum'
  /** The packet grew past the size limit; its bytes were dropped. */
  | 'too-long'
  /** `}` was the last byte of the data. */
  | 'bad-escape'
  /** `*` with no byte to repeat, or a count byte outside the allowed range. */
  | 'bad-run-length';

export type PacketEvent =
  | { kind: 'packet'; data: Uint8Array }
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'interrupt' }
  | { kind: 'error'; reason: PacketErrorReason };

export interface PacketCounters {
  packets: number;
  acks: number;
  nacks: number;
  interrupts: number;
  /** Bytes outside any packet that are neither acks nor interrupts (ignored). */
  noise: number;
  errors: Record<PacketErrorReason, number>;
}

/** QEMU's gdbstub accepts packets of up to 4096 bytes; a packet past this limit is dropped. */
export const DEFAULT_MAX_PACKET = 16384;

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;
const STAR = 0x2a;

const enum State {
  Idle,
  Data,
  Sum1,
  Sum2,
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

export class PacketParser {
  readonly counters: PacketCounters = {
    packets: 0,
    acks: 0,
    nacks: 0,
    interrupts: 0,
    noise: 0,
    errors: { 'bad-checksum': 0, 'too-long': 0, 'bad-escape': 0, 'bad-run-length': 0 },
  };
  private state = State.Idle;
  /** Raw bytes between `$` and `#` (escapes and run-length still encoded). */
  private raw: Uint8Array;
  private len = 0;
  private sum = 0;
  private sumHi = 0;
  private overflow = false;

  constructor(readonly maxPacket = DEFAULT_MAX_PACKET) {
    this.raw = new Uint8Array(Math.min(maxPacket, 1024));
  }

  /** Feed bytes; returns the events they complete, in order. */
  feed(bytes: Uint8Array): PacketEvent[] {
    const out: PacketEvent[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      switch (this.state) {
        case State.Idle:
          if (c === DOLLAR) this.begin();
          else if (c === 0x2b) {
            this.counters.acks++;
            out.push({ kind: 'ack' });
          } else if (c === 0x2d) {
            this.counters.nacks++;
            out.push({ kind: 'nack' });
          } else if (c === 0x03) {
            this.counters.interrupts++;
            out.push({ kind: 'interrupt' });
          } else this.counters.noise++;
          break;
        case State.Data:
          if (c === HASH) this.state = State.Sum1;
          else if (c === DOLLAR) {
            // A new packet starts before this one ended: the old one is lost (gdb resends).
            this.fail(out, 'bad-checksum');
            this.begin();
          } else this.push(c);
          break;
        case State.Sum1:
          this.sumHi = hexVal(c);
          this.state = State.Sum2;
          break;
        case State.Sum2: {
          this.state = State.Idle;
          const lo = hexVal(c);
          if (this.overflow) this.fail(out, 'too-long');
          else if (this.sumHi < 0 || lo < 0 || ((this.sumHi << 4) | lo) !== (this.sum & 0xff)) this.fail(out, 'bad-checksum');
          else this.finish(out);
          break;
        }
      }
    }
    return out;
  }

  private begin(): void {
    this.state = State.Data;
    this.len = 0;
    this.sum = 0;
    this.overflow = false;
  }

  private push(c: number): void {
    this.sum += c;
    if (this.overflow) return;
    if (this.len >= this.maxPacket) {
      this.overflow = true;
      return;
    }
    if (this.len === this.raw.length) {
      const bigger = new Uint8Array(Math.min(this.maxPacket, this.raw.length * 2));
      bigger.set(this.raw);
      this.raw = bigger;
    }
    this.raw[this.len++] = c;
  }

  private fail(out: PacketEvent[], reason: PacketErrorReason): void {
    this.counters.errors[reason]++;
    out.push({ kind: 'error', reason });
  }

  /** Undo escapes and run-length encoding; the expansion is bounded by maxPacket too. */
  private finish(out: PacketEvent[]): void {
    const raw = this.raw;
    const n = this.len;
    let buf = new Uint8Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      let c = raw[i]!;
      let repeat = 1;
      if (c === ESCAPE) {
        if (i + 1 >= n) return this.fail(out, 'bad-escape');
        c = raw[++i]! ^ 0x20;
      } else if (c === STAR) {
        if (m === 0 || i + 1 >= n) return this.fail(out, 'bad-run-length');
        const count = raw[++i]!;
        // gdb's rule: the count byte is printable and never '#' or '$'; it stands for count - 29 repeats.
        if (count < 32 || count > 126 || count === DOLLAR || count === HASH) return this.fail(out, 'bad-run-length');
        c = buf[m - 1]!;
        repeat = count - 29;
      }
      if (m + repeat > buf.length) {
        if (m + repeat > this.maxPacket) return this.fail(out, 'too-long');
        const bigger = new Uint8Array(Math.min(this.maxPacket, Math.max(buf.length * 2, m + repeat)));
        bigger.set(buf.subarray(0, m));
        buf = bigger;
      }
      buf.fill(c, m, m + repeat);
      m += repeat;
    }
    this.counters.packets++;
    out.push({ kind: 'packet', data: buf.slice(0, m) });
  }
}

/** Frame a reply: `$data#cs`, escaping `$`, `#`, `}` and `*` (no run-length on the way out). */
export function encodePacket(data: string | Uint8Array): Uint8Array {
  const src = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  let extra = 0;
  for (const c of src) if (c === DOLLAR || c === HASH || c === ESCAPE || c === STAR) extra++;
  const out = new Uint8Array(src.length + extra + 4);
  out[0] = DOLLAR;
  let j = 1;
  let sum = 0;
  for (const c of src) {
    if (c === DOLLAR || c === HASH || c === ESCAPE || c === STAR) {
      out[j++] = ESCAPE;
      out[j++] = c ^ 0x20;
      sum += ESCAPE + (c ^ 0x20);
    } else {
      out[j++] = c;
      sum += c;
    }
  }
  out[j++] = HASH;
  const hex = (sum & 0xff).toString(16).padStart(2, '0');
  out[j++] = hex.charCodeAt(0);
  out[j++] = hex.charCodeAt(1);
  return out;
}
