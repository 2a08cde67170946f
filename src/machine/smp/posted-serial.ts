/**
 * The console UART without a round trip: a hart realm reads LSR and writes
 * THR itself when that cannot be told apart from the device doing it.
 *
 * Linux prints its console by polling: per character an LSR read (is THR
 * empty?) and a THR write. From a hart realm each was a request to the main
 * realm (~14 us with the host's cores busy; ~0.4 s of hart 0's time in a
 * Linux `-smp 2` boot). The main realm publishes Serial.fastState() in a
 * shared word after every change of the device: while it says so, a realm
 * returns LSR from that word (reading it changes nothing then), and posts a
 * THR byte into a shared ring instead of asking (with no divisor latch,
 * loopback or THRE interrupt selected, the byte's only effect is the output;
 * the device transmits at once, so LSR is the same before and after).
 *
 * Order is kept: the main realm drains the ring before the device serves any
 * access or resets (Serial's hooks), and whenever it polls, so posted bytes
 * come out before anything a later request does, from any realm. A full ring
 * (1,024 bytes not yet drained) makes the realm ask as before. Posting kicks
 * the main realm only if it sleeps (the word it sets before its last check).
 *
 *   hart realm                         shared                          main realm
 *   LSR read ──► state word ─────────── fastState() ◄─ after every access ── Serial
 *   THR write ─► ring[tail++] ─────────── ring ───► drain before any access / on poll
 *   anything else ─► request ─────────────────────────► (drain) ─► Serial
 */
import { FAST_LSR, FAST_THR, SERIAL_LSR, SERIAL_THR, type Serial } from '../../hw/char/serial.js';
import type { PartialDevice } from './realm-memory.js';
import { MAIN_REALM, W_IDLE, type SmpShared } from './shared.js';

/** The portable kind of the console UART (SmpCoordinator.postSerial). */
export const PORTABLE_SERIAL = 'ns16550a.posted';

const STATE = 0;
const TAIL = 1;
const HEAD = 2;
const RING = 4;
const SLOTS = 1024;
/** A slot holds byte | FULL once written (0: reserved, not written yet, or drained). */
const FULL = 0x100;

/** The buffer shared by the main realm and the hart realms. */
export function allocateSerialShare(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (RING + SLOTS));
}

/** The main realm's side: publishes the device's state, and transmits what realms posted. */
export class SerialPosting {
  private readonly i32: Int32Array;
  private draining = false;
  /** Bytes transmitted from the ring (tests, statistics). */
  drained = 0;

  constructor(
    private readonly serial: Serial,
    buffer: SharedArrayBuffer,
  ) {
    this.i32 = new Int32Array(buffer);
    serial.hooks = { before: () => this.drain(), after: () => this.publish() };
    this.publish();
  }

  private publish(): void {
    Atomics.store(this.i32, STATE, this.serial.fastState());
  }

  /** Transmit every byte posted so far, in order; returns how many. */
  drain(): number {
    if (this.draining) return 0;
    const i32 = this.i32;
    let h = i32[HEAD]!;
    const t = Atomics.load(i32, TAIL);
    if (h === t) return 0;
    this.draining = true;
    let n = 0;
    try {
      while (h !== t) {
        const at = RING + (h & (SLOTS - 1));
        const v = Atomics.load(i32, at);
        // Reserved but not written yet: the rest comes at the next drain.
        if (v === 0) break;
        i32[at] = 0;
        this.serial.transmit(v & 0xff);
        h = (h + 1) | 0;
        n++;
      }
    } finally {
      Atomics.store(i32, HEAD, h);
      this.draining = false;
    }
    if (n > 0) this.publish();
    this.drained += n;
    return n;
  }

  /** Whether posted bytes wait (the main realm must not sleep on them). */
  pending(): boolean {
    return this.i32[HEAD] !== Atomics.load(this.i32, TAIL);
  }
}

/** A hart realm's side: the accesses it runs itself (realm-memory.ts asks the main realm for the rest). */
export class PostedSerialClient implements PartialDevice {
  private readonly i32: Int32Array;
  private readonly idleIdx: number;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly shared: SmpShared,
  ) {
    this.i32 = new Int32Array(buffer);
    this.idleIdx = shared.w(MAIN_REALM, W_IDLE);
  }

  tryRead(offset: number, size: number): number {
    if (offset !== SERIAL_LSR || size !== 1) return -1;
    const s = Atomics.load(this.i32, STATE);
    return (s & FAST_LSR) !== 0 ? s & 0xff : -1;
  }

  tryWrite(offset: number, size: number, value: number): boolean {
    if (offset !== SERIAL_THR || size !== 1) return false;
    const i32 = this.i32;
    if ((Atomics.load(i32, STATE) & FAST_THR) === 0) return false;
    let t: number;
    do {
      t = Atomics.load(i32, TAIL);
      if (((t - Atomics.load(i32, HEAD)) | 0) >= SLOTS) return false;
    } while (Atomics.compareExchange(i32, TAIL, t, (t + 1) | 0) !== t);
    Atomics.store(i32, RING + (t & (SLOTS - 1)), (value & 0xff) | FULL);
    // The main realm sets W_IDLE before its last look at the ring (SerialPosting.pending):
    // one of the two sees the other's store.
    if (Atomics.load(this.shared.i32, this.idleIdx) !== 0) this.shared.kick(MAIN_REALM);
    return true;
  }
}
