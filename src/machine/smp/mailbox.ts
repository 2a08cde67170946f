/**
 * Synchronous cross-realm requests over the shared control block.
 *
 * A requester realm fills its own request slot (target realm, op, device,
 * offset, size, value, attributes), marks it POSTED and rings the target's
 * doorbell; it then spins briefly and blocks in Atomics.wait until the target
 * marks the slot REPLIED with a value and a MemTxResult. A server realm scans
 * the slots aimed at it and answers each in its own thread, so a device is
 * only ever touched by its home realm.
 *
 * Blocking rules (docs/smp.md): a device realm (the main realm or an I/O
 * thread) never blocks on the main realm; a request that would close a cycle
 * in the wait-for graph (W_WAITING_ON edges) fails at once with
 * MEMTX_ACCESS_ERROR and one log line; every wait has a timeout after which
 * the target's liveness and the machine's stop flag are checked, so a dead
 * realm fails the request with MEMTX_ERROR instead of hanging its caller.
 */
import { hostLog } from '../../host/log.js';
import { MEMTX_ACCESS_ERROR, MEMTX_ERROR, memTxAttrs, type MemTxAttrs, type MemTxResult } from '../../memory/types.js';
import {
  ATTR_MEMORY_ONLY,
  ATTR_SECURE,
  ATTR_USER,
  F_REQ_OFFSET,
  MAIN_REALM,
  REALM_EXITED,
  REALM_RUNNING,
  REQ_IDLE,
  REQ_POSTED,
  REQ_REPLIED,
  REQ_SERVING,
  SmpShared,
  W_ALIVE,
  W_IDLE,
  W_KICK,
  W_REQ_ATTRS,
  W_REQ_DEV,
  W_REQ_OP,
  W_REQ_REQUESTER,
  W_REQ_RESULT,
  W_REQ_SEQ,
  W_REQ_SIZE,
  W_REQ_SLEEPING,
  W_REQ_STATE,
  W_REQ_TARGET,
  W_REQ_VAL_HI,
  W_REQ_VAL_LO,
  W_WAITING_ON,
} from './shared.js';

export interface MailboxClientOptions {
  /**
   * True for device realms (main, I/O threads): they may not block on the
   * main realm (the coarsest lock's home). Hart realms hold nothing and may.
   */
  deviceRealm: boolean;
  log?: (line: string) => void;
  /** Polls of the reply word before sleeping (default 4000, a few microseconds). */
  spin?: number;
  /** Sleep slice in ms between liveness checks (default 50). */
  waitSliceMs?: number;
  /**
   * Give up on a live but silent target after this long (MEMTX_ERROR and a
   * log line). Default: 10 s for device realms (a thread blocked on a peer
   * cannot see that peer's exit event), unbounded for hart realms (the main
   * realm always answers eventually; if it dies the process dies).
   */
  maxWaitMs?: number;
}

/** Atomics.waitAsync (Node 16+; ES2024, so not in the ES2022 lib typings). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

export function attrBits(a: MemTxAttrs): number {
  return (a.secure ? ATTR_SECURE : 0) | (a.user ? ATTR_USER : 0) | (a.memoryOnly ? ATTR_MEMORY_ONLY : 0);
}

/**
 * How a realm sends a synchronous request to another realm: the mailbox
 * (MailboxClient) between threads, or a direct call when realms are simulated
 * in one thread (the schedule explorer).
 */
export interface RequestPort {
  /** The requesting realm's number. */
  readonly self: number;
  readonly valLo: number;
  readonly valHi: number;
  request(target: number, op: number, dev: number, offset: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult;
}

/** Requester side: one per realm (its own slot). */
export class MailboxClient implements RequestPort {
  valLo = 0;
  valHi = 0;
  /** Requests refused because they would close a wait-for cycle. */
  cycleRefusals = 0;
  /** Requests refused by the lock order (a device realm asking the main realm). */
  orderRefusals = 0;
  /** Requests failed because the target realm is gone. */
  deadTargets = 0;

  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly base: number;
  private readonly spin: number;
  private readonly sliceMs: number;
  private readonly log: (line: string) => void;
  private readonly maxWaitMs: number;
  private loggedCycle = false;
  private loggedOrder = false;
  private seq = 0;

  constructor(
    private readonly shared: SmpShared,
    readonly self: number,
    private readonly opts: MailboxClientOptions,
  ) {
    this.i32 = shared.i32;
    this.f64 = shared.f64;
    this.base = shared.w(self, 0);
    this.spin = opts.spin ?? 4000;
    this.sliceMs = opts.waitSliceMs ?? 50;
    this.log = opts.log ?? hostLog;
    this.maxWaitMs = opts.maxWaitMs ?? (opts.deviceRealm ? 10_000 : Infinity);
  }

  /**
   * Send one request to `target` and wait for its reply; the value lands in
   * valLo/valHi. Never throws for guest-caused conditions.
   */
  request(target: number, op: number, dev: number, offset: number, size: number, lo: number, hi: number, attrs: MemTxAttrs): MemTxResult {
    const sh = this.shared;
    const i32 = this.i32;
    const self = this.self;
    if (this.opts.deviceRealm && target === MAIN_REALM) {
      this.orderRefusals++;
      if (!this.loggedOrder) {
        this.loggedOrder = true;
        this.log(`smp: realm ${self} (a device realm) may not block on the main realm; request refused (lock order; logged once)`);
      }
      return this.fail(MEMTX_ACCESS_ERROR, size);
    }
    if (sh.load(target, W_ALIVE) === REALM_EXITED) {
      this.deadTargets++;
      return this.fail(MEMTX_ERROR, size);
    }
    // Publish the wait-for edge first, then look for a path back: with both
    // steps sequentially consistent, of two realms closing a cycle at the same
    // time at least one sees the other's edge.
    const waitIdx = this.base + W_WAITING_ON;
    Atomics.store(i32, waitIdx, target);
    let x = target;
    for (let hops = 0; hops < sh.realms; hops++) {
      if (x === self) {
        Atomics.store(i32, waitIdx, -1);
        this.cycleRefusals++;
        if (!this.loggedCycle) {
          this.loggedCycle = true;
          this.log(`smp: request from realm ${self} to realm ${target} would close a cycle of blocking requests; failed with MEMTX_ACCESS_ERROR (logged once)`);
        }
        return this.fail(MEMTX_ACCESS_ERROR, size);
      }
      const y = Atomics.load(i32, sh.w(x, W_WAITING_ON));
      if (y < 0) break;
      x = y;
    }

    const b = this.base;
    i32[b + W_REQ_TARGET] = target;
    i32[b + W_REQ_OP] = op;
    i32[b + W_REQ_SIZE] = size;
    i32[b + W_REQ_DEV] = dev;
    i32[b + W_REQ_ATTRS] = attrBits(attrs);
    i32[b + W_REQ_REQUESTER] = attrs.requesterId;
    i32[b + W_REQ_VAL_LO] = lo | 0;
    i32[b + W_REQ_VAL_HI] = hi | 0;
    i32[b + W_REQ_SEQ] = ++this.seq;
    this.f64[sh.f(self, F_REQ_OFFSET)] = offset;
    const stIdx = b + W_REQ_STATE;
    Atomics.store(i32, stIdx, REQ_POSTED);
    // Doorbell: bump always (a server about to sleep re-checks it); notify only a sleeping server.
    const kIdx = sh.w(target, W_KICK);
    Atomics.add(i32, kIdx, 1);
    if (Atomics.load(i32, sh.w(target, W_IDLE)) !== 0) Atomics.notify(i32, kIdx);

    let st = Atomics.load(i32, stIdx);
    for (let n = this.spin; st !== REQ_REPLIED && n > 0; n--) st = Atomics.load(i32, stIdx);
    if (st !== REQ_REPLIED) {
      Atomics.store(i32, b + W_REQ_SLEEPING, 1);
      let waited = 0;
      for (;;) {
        st = Atomics.load(i32, stIdx);
        if (st === REQ_REPLIED) break;
        const r = Atomics.wait(i32, stIdx, st, this.sliceMs);
        if (r !== 'timed-out') continue;
        waited += this.sliceMs;
        let alive = Atomics.load(i32, sh.w(target, W_ALIVE)) === REALM_RUNNING;
        if (alive && waited >= this.maxWaitMs) {
          alive = false;
          this.log(`smp: realm ${target} did not answer realm ${self} within ${this.maxWaitMs} ms; request failed`);
        }
        if (!alive || sh.stopping) {
          // Not yet claimed: take the request back. Claimed by a dead server: it will never answer.
          if (Atomics.compareExchange(i32, stIdx, REQ_POSTED, REQ_IDLE) === REQ_POSTED || !alive) {
            Atomics.store(i32, stIdx, REQ_IDLE);
            Atomics.store(i32, b + W_REQ_SLEEPING, 0);
            Atomics.store(i32, waitIdx, -1);
            this.deadTargets++;
            return this.fail(MEMTX_ERROR, size);
          }
        }
      }
      Atomics.store(i32, b + W_REQ_SLEEPING, 0);
    }
    this.valLo = i32[b + W_REQ_VAL_LO]! >>> 0;
    this.valHi = i32[b + W_REQ_VAL_HI]! >>> 0;
    const result = i32[b + W_REQ_RESULT]!;
    Atomics.store(i32, stIdx, REQ_IDLE);
    Atomics.store(i32, waitIdx, -1);
    return result;
  }

  private fail(r: MemTxResult, size: number): MemTxResult {
    this.valLo = size >= 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    this.valHi = size === 8 ? 0xffffffff : 0;
    return r;
  }
}

/** What a server realm does with one request. */
export interface RequestHandler {
  /**
   * Serve one request; put a read's value in out.valLo/valHi. `requester` is
   * the realm number, `attrs.requesterId` the hart or device id.
   */
  serve(op: number, dev: number, offset: number, size: number, lo: number, hi: number, attrs: MemTxAttrs, requester: number, out: ReplySink): MemTxResult;
}

export interface ReplySink {
  valLo: number;
  valHi: number;
}

/** Server side: the home realm of some devices answers the requests aimed at it. */
export class MailboxServer implements ReplySink {
  valLo = 0;
  valHi = 0;
  /** Requests answered so far. */
  served = 0;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly attrCache = new Map<number, MemTxAttrs>();

  constructor(
    private readonly shared: SmpShared,
    readonly self: number,
    private readonly handler: RequestHandler,
    /** Work this realm has besides requests (posted-serial.ts), checked before it sleeps. */
    private readonly busy: () => boolean = () => false,
  ) {
    this.i32 = shared.i32;
    this.f64 = shared.f64;
  }

  private attrsFor(bits: number, requesterId: number): MemTxAttrs {
    const key = requesterId * 8 + bits;
    let a = this.attrCache.get(key);
    if (a === undefined) {
      a = memTxAttrs({
        requesterId,
        secure: (bits & ATTR_SECURE) !== 0,
        user: (bits & ATTR_USER) !== 0,
        memoryOnly: (bits & ATTR_MEMORY_ONLY) !== 0,
      });
      this.attrCache.set(key, a);
    }
    return a;
  }

  /** Whether any request is waiting for this realm (cheap; no claim). */
  pending(): boolean {
    const sh = this.shared;
    const i32 = this.i32;
    for (let r = 0; r < sh.realms; r++) {
      const b = sh.w(r, 0);
      if (Atomics.load(i32, b + W_REQ_STATE) === REQ_POSTED && i32[b + W_REQ_TARGET] === this.self) return true;
    }
    return false;
  }

  /** Answer every request posted to this realm; returns how many. */
  poll(): number {
    const sh = this.shared;
    const i32 = this.i32;
    let n = 0;
    for (let r = 0; r < sh.realms; r++) {
      const b = sh.w(r, 0);
      const stIdx = b + W_REQ_STATE;
      if (Atomics.load(i32, stIdx) !== REQ_POSTED || i32[b + W_REQ_TARGET] !== this.self) continue;
      if (Atomics.compareExchange(i32, stIdx, REQ_POSTED, REQ_SERVING) !== REQ_POSTED) continue;
      const size = i32[b + W_REQ_SIZE]!;
      const attrs = this.attrsFor(i32[b + W_REQ_ATTRS]!, i32[b + W_REQ_REQUESTER]!);
      this.valLo = 0;
      this.valHi = 0;
      let result: MemTxResult;
      try {
        result = this.handler.serve(
          i32[b + W_REQ_OP]!,
          i32[b + W_REQ_DEV]!,
          this.f64[sh.f(r, F_REQ_OFFSET)]!,
          size,
          i32[b + W_REQ_VAL_LO]! >>> 0,
          i32[b + W_REQ_VAL_HI]! >>> 0,
          attrs,
          r,
          this,
        );
      } catch (e) {
        // A device bug: the requester gets an error, and the exception goes to the machine.
        this.reply(b, MEMTX_ERROR, 0xffffffff, 0xffffffff);
        throw e;
      }
      this.reply(b, result, this.valLo, this.valHi);
      n++;
    }
    this.served += n;
    return n;
  }

  private reply(b: number, result: MemTxResult, lo: number, hi: number): void {
    const i32 = this.i32;
    i32[b + W_REQ_VAL_LO] = lo | 0;
    i32[b + W_REQ_VAL_HI] = hi | 0;
    i32[b + W_REQ_RESULT] = result;
    const stIdx = b + W_REQ_STATE;
    // SERVING -> REPLIED; if the requester gave up meanwhile (machine stopping), leave it idle.
    if (Atomics.compareExchange(i32, stIdx, REQ_SERVING, REQ_REPLIED) === REQ_SERVING && Atomics.load(i32, b + W_REQ_SLEEPING) !== 0) {
      Atomics.notify(i32, stIdx);
    }
  }

  /**
   * Block this (worker) realm until a request may be waiting or `timeoutMs`
   * passes. Not for the main realm, which must keep its event loop running
   * (see waitAsync).
   */
  waitForWork(timeoutMs: number): void {
    const sh = this.shared;
    const kIdx = sh.w(this.self, W_KICK);
    const k = Atomics.load(this.i32, kIdx);
    Atomics.store(this.i32, sh.w(this.self, W_IDLE), 1);
    if (!this.pending()) Atomics.wait(this.i32, kIdx, k, timeoutMs);
    Atomics.store(this.i32, sh.w(this.self, W_IDLE), 0);
  }

  /** The main realm's idle wait: resolves on the doorbell or after `timeoutMs`, keeping Node's loop alive. */
  async waitAsync(timeoutMs: number): Promise<void> {
    const sh = this.shared;
    const kIdx = sh.w(this.self, W_KICK);
    const k = Atomics.load(this.i32, kIdx);
    Atomics.store(this.i32, sh.w(this.self, W_IDLE), 1);
    try {
      if (this.pending() || this.busy()) return;
      const w = waitAsync(this.i32, kIdx, k, Math.max(0, timeoutMs));
      if (w.async) await w.value;
    } finally {
      Atomics.store(this.i32, sh.w(this.self, W_IDLE), 0);
    }
  }
}
