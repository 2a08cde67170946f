/**
 * The host side of pass-through: a real subchannel as a host driver sees it.
 * It is the same architectural model (Subchannel + EmulatedBackend) driven by
 * host instructions, with two asynchronous edges made explicit:
 *  - `channel`: the channel performing accepted functions (start, halt, clear);
 *  - `interrupts`: delivery of the host I/O interruption to the driver's
 *    handler, posted when status becomes pending and dropped at delivery time
 *    if the status was already consumed (the interruption was withdrawn).
 * Channel programs are fetched through `memory`, normally a HostMemory that
 * sees guest RAM (pinned) plus the driver's CpArena, so a freed channel
 * program that the channel still fetches is detected, not silently executed.
 *
 * Being a simulation, it knows what a real host keeps to itself: which of its
 * operations produced each status. It tells a `HostObserver` (a test, the
 * explorer's checker) and never the driver, which sees only the IRB.
 */
import { FC_START, type Cc } from './bits.js';
import { DEFAULT_CCW_BUDGET, type CcwDevice } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import type { Irb, Orb } from './schib.js';
import { EmulatedBackend, Subchannel, type StatusTag } from './subchannel.js';
import type { CssWorkQueue } from './work-queue.js';

interface Allocation {
  readonly base: number;
  readonly bytes: Uint8Array;
  readonly owner: string;
  freed: boolean;
}

/**
 * Host memory holding translated channel programs. Addresses are never
 * reused, so any access to a freed allocation is recognised and recorded.
 */
export class CpArena implements CssMemory {
  static readonly BASE = 0x4000_0000;
  private next = CpArena.BASE;
  private readonly allocs: Allocation[] = [];
  /** Accesses that touched freed memory: what a real host would have read as garbage. */
  readonly useAfterFree: string[] = [];
  readonly doubleFree: string[] = [];
  /** Told of every free (the simulation's view, for observers; the driver never sets it). */
  onFree: ((base: number, owner: string) => void) | null = null;

  alloc(len: number, owner: string): number {
    const base = this.next;
    const size = Math.max(8, (len + 7) & ~7);
    this.allocs.push({ base, bytes: new Uint8Array(size), owner, freed: false });
    // Leave a gap so that running off the end of one allocation never lands in the next.
    this.next += size + 0x1000;
    return base;
  }

  free(base: number): void {
    const a = this.locate(base, 1);
    if (!a || a.base !== base) return;
    if (a.freed) this.doubleFree.push(a.owner);
    a.freed = true;
    this.onFree?.(base, a.owner);
  }

  isLive(base: number): boolean {
    const a = this.locate(base, 1);
    return a !== null && a.base === base && !a.freed;
  }

  /** Allocations are made at increasing addresses, so the list is sorted: binary search. */
  private locate(addr: number, len: number): Allocation | null {
    let lo = 0;
    let hi = this.allocs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const a = this.allocs[mid]!;
      if (addr < a.base) hi = mid - 1;
      else if (addr >= a.base + a.bytes.length) lo = mid + 1;
      else return addr + len <= a.base + a.bytes.length ? a : null;
    }
    return null;
  }

  read(addr: number, into: Uint8Array): boolean {
    const a = this.locate(addr, into.length);
    if (!a) return false;
    if (a.freed) {
      this.useAfterFree.push(`read of ${a.owner} at 0x${addr.toString(16)} after it was freed`);
      return false;
    }
    into.set(a.bytes.subarray(addr - a.base, addr - a.base + into.length));
    return true;
  }

  write(addr: number, data: Uint8Array): boolean {
    const a = this.locate(addr, data.length);
    if (!a) return false;
    if (a.freed) {
      this.useAfterFree.push(`write of ${a.owner} at 0x${addr.toString(16)} after it was freed`);
      return false;
    }
    a.bytes.set(data, addr - a.base);
    return true;
  }
}

/** What the host channel sees: guest RAM below CpArena.BASE (pinned, identity), the arena above. */
export class HostMemory implements CssMemory {
  constructor(
    private readonly guest: CssMemory,
    private readonly arena: CpArena,
  ) {}

  read(addr: number, into: Uint8Array): boolean {
    return addr >= CpArena.BASE ? this.arena.read(addr, into) : this.guest.read(addr, into);
  }

  write(addr: number, data: Uint8Array): boolean {
    return addr >= CpArena.BASE ? this.arena.write(addr, data) : this.guest.write(addr, data);
  }
}

export interface HostSubchannelOptions {
  device: CcwDevice;
  memory: CssMemory;
  /** Where the channel's work (performing start/halt/clear) is posted. */
  channel: CssWorkQueue;
  /** Where host I/O interruptions are posted for delivery to `handler`. */
  interrupts: CssWorkQueue;
  budget?: number;
  devno?: number;
}

export interface HostTsch {
  cc: Cc;
  irb: Irb;
}

/** What the simulated host did, as only a simulation knows it. */
export interface HostObserver {
  /** A start (with its ORB), halt or clear was accepted as host operation `opId`. */
  accepted(fn: StatusTag['fn'], opId: number, orb: Orb | null): void;
  /** TSCH stored `irb` (cc 0); `tag` is the operation that produced the status. */
  stored(irb: Irb, tag: StatusTag | null): void;
}

export class HostSubchannel {
  readonly sch: Subchannel;
  private readonly backend: EmulatedBackend;
  /** The host driver's I/O interruption handler. */
  handler: (() => void) | null = null;
  observer: HostObserver | null = null;
  private irqSeq = 0;

  constructor(opts: HostSubchannelOptions) {
    this.backend = new EmulatedBackend(opts.device, opts.memory, opts.channel, opts.budget ?? DEFAULT_CCW_BUDGET, 'host');
    this.sch = new Subchannel(0, 0, opts.devno ?? 0x1234, this.backend);
    this.sch.interruptSink = (s) => {
      const n = ++this.irqSeq;
      const tag = s.statusTag;
      opts.interrupts.post(`host-irq#${n}${tag ? `(${tag.fn}#${tag.opId})` : ''}`, () => {
        if (s.statusPending && s.pmcw.enabled && this.handler) this.handler();
      });
    };
  }

  /** MSCH with E=1 (cc as MSCH gives it). */
  enable(): Cc {
    return this.sch.msch({ ...this.sch.pmcw, enabled: true }, this.sch.mda);
  }

  disable(): Cc {
    return this.sch.msch({ ...this.sch.pmcw, enabled: false }, this.sch.mda);
  }

  get enabled(): boolean {
    return this.sch.pmcw.enabled;
  }

  ssch(orb: Orb): Cc {
    const cc = this.sch.ssch(orb);
    if (cc === 0) this.observer?.accepted('start', this.sch.ops.start, orb);
    return cc;
  }

  hsch(): Cc {
    const cc = this.sch.hsch();
    if (cc === 0) this.observer?.accepted('halt', this.sch.ops.halt, null);
    return cc;
  }

  csch(): Cc {
    const cc = this.sch.csch();
    if (cc === 0) this.observer?.accepted('clear', this.sch.ops.clear, null);
    return cc;
  }

  tsch(): HostTsch {
    const r = this.sch.tsch();
    if (r.cc === 0) this.observer?.stored(r.irb, r.tag);
    return { cc: r.cc, irb: r.irb };
  }

  /** Operation id of the last accepted start (0 when none in progress). */
  get startOpId(): number {
    return this.sch.ops.start;
  }

  /** Whether the channel may still fetch the program of start operation `opId`. */
  startInUse(opId: number): boolean {
    const s = this.sch;
    if (opId === 0 || s.ops.start !== opId || !(s.scsw.fc & FC_START)) return false;
    const tag = s.statusTag;
    return !(s.statusPending && tag !== null && tag.fn === 'start' && tag.opId === opId);
  }

  /**
   * Cancel everything and disable, as a driver's quiesce does after it has
   * cleared the subchannel and waited for (and consumed) the clear's status.
   */
  quiesce(): void {
    this.backend.cancelAll();
    this.sch.resetFunctions();
    this.sch.pmcw.enabled = false;
  }
}
