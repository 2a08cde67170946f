/**
 * Shared record of which physical pages translated code came from, so that a
 * store from any hart (any worker) invalidates what was translated from the
 * page it writes.
 *
 * One Int32Array, usually over a SharedArrayBuffer every hart of a machine
 * shares: word 0 is an epoch bumped whenever a page first becomes a code page
 * (every hart then drops its store-TLB entries, so no store reaches such a
 * page without passing `written`); then per page slot a generation (bumped
 * by every store to the slot) and a count of harts holding translations from
 * it, and last a count of all such stores (a translator's jump cache checks it
 * instead of each target page's generation). Slots are the physical page
 * number modulo SLOTS: two pages sharing a slot only cause extra
 * invalidations, never missed ones.
 */
export const CODE_SLOTS = 65536;
const GEN = 1;
const REFS = 1 + CODE_SLOTS;
const WRITES = 1 + 2 * CODE_SLOTS;
const WORDS = WRITES + 1;

export class CodeSync {
  readonly words: Int32Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.words = new Int32Array(buffer ?? CodeSync.allocate());
    if (this.words.length !== WORDS) throw new RangeError('CodeSync: buffer has the wrong size');
  }

  /** A buffer to share between the harts of one machine. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * WORDS);
  }

  static slotOf(pa: number): number {
    return Math.floor(pa / 4096) % CODE_SLOTS;
  }

  epoch(): number {
    return this.words[0]!;
  }

  generation(slot: number): number {
    return Atomics.load(this.words, GEN + slot);
  }

  isCode(pa: number): boolean {
    return Atomics.load(this.words, REFS + CodeSync.slotOf(pa)) !== 0;
  }

  /** A store reached physical address pa on a code page. */
  written(pa: number): void {
    Atomics.add(this.words, GEN + CodeSync.slotOf(pa), 1);
    Atomics.add(this.words, WRITES, 1);
  }

  /** Stores to code pages so far, by every hart. */
  writes(): number {
    return Atomics.load(this.words, WRITES);
  }

  /** This hart now holds translations from `slot`. */
  claim(slot: number): void {
    if (Atomics.add(this.words, REFS + slot, 1) === 0) Atomics.add(this.words, 0, 1);
  }

  release(slot: number): void {
    Atomics.sub(this.words, REFS + slot, 1);
  }
}
