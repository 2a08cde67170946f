/**
 * The shared control block of an SMP machine: one SharedArrayBuffer every
 * realm maps, holding per-realm words (wake-up futex, interrupt lines, epoch
 * acknowledgement, liveness, the wait-for edge used for cycle detection) and
 * each realm's outgoing request slot (the mailbox). docs/smp.md has the
 * protocol; this file fixes the layout (and how a realm reads the clock
 * published in it).
 *
 * Realm numbering: 0 is the main realm (the big lock's home: the memory map,
 * most devices, timers), 1..harts are hart realms (hart i is realm i + 1),
 * then I/O-thread realms. Every realm has one request slot because a realm
 * runs one synchronous request at a time.
 */
import { NS_PER_TICK } from '../../hw/intc/clint.js';

/** Int32 words per realm (a 128-byte stride keeps realms off each other's cache lines). */
export const REALM_I32 = 32;
/** Float64 slots per realm. */
export const REALM_F64 = 8;

// ---- per-realm Int32 words
/** Futex a sleeping realm waits on: bumped by anything that wants it to look again (doorbell, WFI wake-up, commands). */
export const W_KICK = 0;
/** Hart realms: the device-driven mip lines (Atomics.or/and by the CLINT/PLIC in the main realm). */
export const W_MIP = 1;
/** The newest flat-view epoch this realm has adopted (it holds no reference to older snapshots). */
export const W_ACK = 2;
/** REALM_* liveness. */
export const W_ALIVE = 3;
/** The realm this realm is blocked on (a synchronous request), or -1: the wait-for graph. */
export const W_WAITING_ON = 4;
/** Hart realms: CMD_* from the coordinator. */
export const W_CMD = 5;
/** Hart realms: HART_* (what the hart is doing, for the coordinator and reports). */
export const W_STATE = 6;
/** Server realms: 1 while the realm sleeps waiting for requests (requesters then notify W_KICK). */
export const W_IDLE = 7;
// request slot (this realm as requester)
export const W_REQ_STATE = 8;
export const W_REQ_TARGET = 9;
export const W_REQ_OP = 10;
export const W_REQ_SIZE = 11;
export const W_REQ_DEV = 12;
export const W_REQ_ATTRS = 13;
export const W_REQ_REQUESTER = 14;
export const W_REQ_VAL_LO = 15;
export const W_REQ_VAL_HI = 16;
export const W_REQ_RESULT = 17;
/** 1 while the requester sleeps in Atomics.wait on W_REQ_STATE (the server then notifies). */
export const W_REQ_SLEEPING = 18;
/** Incremented by the requester for every request (reports, tests). */
export const W_REQ_SEQ = 19;

// ---- per-realm Float64 slots
/** Request: region offset (device requests) or guest physical address (address requests). */
export const F_REQ_OFFSET = 0;
/** Hart realms: PC at the last quantum boundary (for error reports when a worker dies). */
export const F_PC = 1;
/** Hart realms: instructions executed so far. */
export const F_STEPS = 2;
/** Hart realms: the argument of W_CMD (the reset PC). */
export const F_CMD_ARG = 3;
/** Accesses of this realm to unassigned addresses (for -d guest_errors), at the last boundary. */
export const F_UNASSIGNED = 4;

// ---- global words (realm -1 region at the start)
export const G_I32 = 16;
export const G_F64 = 4;
/** Epoch of the newest published flat-view snapshot. */
export const G_EPOCH = 0;
/** Nonzero once the machine is stopping: every wait gives up. */
export const G_STOP = 1;
/** Host monotonic ns at which the machine clock read 0 (the clock every realm derives mtime from). */
export const GF_CLOCK_BASE_NS = 0;
/** mtime minus floor(clock ns / NS_PER_TICK): changes when the guest writes mtime. */
export const GF_MTIME_DELTA = 1;

/**
 * mtime as a realm computes it from the published clock (SmpCoordinator publishes the base and
 * offset), at host monotonic time `hostNs`: the CLINT's floor(clock ns / NS_PER_TICK) + delta.
 */
export function realmMtime(f64: Float64Array, hostNs: number): number {
  return Math.floor((hostNs - f64[GF_CLOCK_BASE_NS]!) / NS_PER_TICK) + f64[GF_MTIME_DELTA]!;
}

// Request slot states.
export const REQ_IDLE = 0;
export const REQ_POSTED = 1;
export const REQ_REPLIED = 2;
export const REQ_SERVING = 3;

// Request ops.
/** Read `size` bytes at F_REQ_OFFSET of device W_REQ_DEV. */
export const OP_DEV_READ = 1;
export const OP_DEV_WRITE = 2;
/** Read/write at guest physical address F_REQ_OFFSET through the home realm's own view (IOMMU ranges). */
export const OP_ADDR_READ = 3;
export const OP_ADDR_WRITE = 4;

// Attribute bits carried in W_REQ_ATTRS.
export const ATTR_SECURE = 1;
export const ATTR_USER = 2;
export const ATTR_MEMORY_ONLY = 4;

// Liveness.
export const REALM_NOT_STARTED = 0;
export const REALM_RUNNING = 1;
export const REALM_EXITED = 2;

// Hart commands.
export const CMD_NONE = 0;
export const CMD_STOP = 1;
/** Reset the hart to the PC in F_CMD_ARG, then run. */
export const CMD_RESET = 2;
/** Stop at the next quantum boundary and sleep (W_STATE = HART_PAUSED) until the command changes. */
export const CMD_PAUSE = 3;

// Hart states.
export const HART_STARTING = 0;
export const HART_RUNNING = 1;
export const HART_WFI = 2;
export const HART_STOPPED = 3;
export const HART_PAUSED = 4;

export const MAIN_REALM = 0;

/** Views of the control block; constructed identically in every realm from the same buffer. */
export class SmpShared {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly realms: number;

  constructor(
    readonly buffer: SharedArrayBuffer,
    realms: number,
  ) {
    this.realms = realms;
    const i32Bytes = (G_I32 + realms * REALM_I32) * 4;
    this.i32 = new Int32Array(buffer, 0, i32Bytes / 4);
    this.f64 = new Float64Array(buffer, i32Bytes, G_F64 + realms * REALM_F64);
  }

  static create(realms: number): SmpShared {
    if (!(Number.isInteger(realms) && realms >= 2 && realms <= 1024)) throw new RangeError(`SMP: ${realms} realms`);
    const bytes = (G_I32 + realms * REALM_I32) * 4 + (G_F64 + realms * REALM_F64) * 8;
    const s = new SmpShared(new SharedArrayBuffer(bytes), realms);
    for (let r = 0; r < realms; r++) s.i32[s.w(r, W_WAITING_ON)] = -1;
    return s;
  }

  /** Index of per-realm Int32 word `w` of realm `r`. */
  w(r: number, w: number): number {
    return G_I32 + r * REALM_I32 + w;
  }

  /** Index of per-realm Float64 slot `f` of realm `r`. */
  f(r: number, f: number): number {
    return G_F64 + r * REALM_F64 + f;
  }

  load(r: number, w: number): number {
    return Atomics.load(this.i32, this.w(r, w));
  }

  store(r: number, w: number, v: number): void {
    Atomics.store(this.i32, this.w(r, w), v);
  }

  /** Wake realm r if it sleeps on its kick word (doorbell, interrupt, command, new epoch). */
  kick(r: number): void {
    const i = this.w(r, W_KICK);
    Atomics.add(this.i32, i, 1);
    Atomics.notify(this.i32, i);
  }

  get stopping(): boolean {
    return Atomics.load(this.i32, G_STOP) !== 0;
  }

  publishedEpoch(): number {
    return Atomics.load(this.i32, G_EPOCH);
  }
}

/** Hart index -> realm number. */
export function hartRealm(hart: number): number {
  return hart + 1;
}
