/**
 * Seed 003's naive design, injected by the explorer into the real pass-through
 * stack (src/hw/css/vfio-ccw.ts) in place of its two halves:
 *
 * - `SingleIrbVfioCcw`: Linux's vfio-ccw before the fix. The interrupt handler
 *   keeps the IRB in one slot (a second IRB before io_todo overwrites the
 *   first) and decides nothing; io_todo takes any solicited, final IRB as the
 *   end of the current channel program. CLEAR's IRB handled after a new START
 *   was accepted therefore frees START's program while the host channel still
 *   has to run it.
 * - `EmulatedClearBackend`: early pass-through's user space. CSCH completes in
 *   the guest at once (so the guest may start again while the host's CLEAR
 *   IRB is on its way), every reported IRB is presented while the guest has
 *   any function outstanding, and a halt the host refuses is cc 2.
 *
 * Lives in src/explore: the shipped classes know nothing of it.
 */
import type { Subchannel } from '../../hw/css/subchannel.js';
import type { Irb } from '../../hw/css/schib.js';
import { AC_DEV_ACTIVE, AC_SCH_ACTIVE, type Cc } from '../../hw/css/bits.js';
import { VfioCcw, irbFunction, type IrbReport, type VfioCcwOptions } from '../../hw/css/vfio-ccw.js';
import { VfioCcwGuestBackend } from '../../hw/css/vfio-ccw-backend.js';
import type { VfioCcwParts } from '../../hw/css/vfio-ccw-passthrough.js';
import { notePolicy } from './registry.js';

export class SingleIrbVfioCcw extends VfioCcw {
  /** IRBs lost because a newer one overwrote them before io_todo ran. */
  lostIrbs = 0;
  private slot: Irb | null = null;

  constructor(opts: VfioCcwOptions) {
    super(opts);
    notePolicy();
  }

  protected override capture(irb: Irb): void {
    if (this.slot) this.lostIrbs++;
    this.slot = irb;
  }

  protected override processCaptured(): void {
    const irb = this.slot;
    this.slot = null;
    if (!irb) return;
    const final = !(irb.scsw.ac & (AC_DEV_ACTIVE | AC_SCH_ACTIVE));
    const cp = this.cp;
    if (irb.scsw.fc !== 0 && cp && !cp.freed) {
      // The seed's code path: a solicited final IRB is taken as the end of the current program.
      this.cpUpdateScsw(cp, irb);
      if (final && this.state === 'CP_PENDING') this.endProgram(cp);
    }
    if (final && (this.state === 'CP_PENDING' || this.state === 'CP_PROCESSING')) this.state = 'IDLE';
    const fn = irbFunction(irb);
    const o = this.outstanding;
    const gen = fn === 'start' ? (cp?.gen ?? 0) : fn === 'halt' ? o.halt : fn === 'clear' ? o.clear : 0;
    this.report(irb, { fn, gen });
  }
}

export class EmulatedClearBackend extends VfioCcwGuestBackend {
  override clear(sch: Subchannel): Cc {
    const cc = super.clear(sch);
    // Emulated clear: done in the guest's view right away, whatever the host is doing.
    if (cc === 0 && this.clearGen !== 0) this.completeClearNow(sch);
    return cc;
  }

  protected override absorbHalt(): boolean {
    return false;
  }

  protected override wanted(_r: IrbReport, guestFunction: string): boolean {
    // Nothing outstanding in the guest's view (its clear was emulated): nothing to present.
    return guestFunction !== 'none';
  }
}

/** Both halves, for VfioCcwPassthroughOptions.parts. */
export class SingleIrbParts implements VfioCcwParts {
  vfio(opts: VfioCcwOptions): VfioCcw {
    return new SingleIrbVfioCcw(opts);
  }

  backend(vfio: VfioCcw): VfioCcwGuestBackend {
    return new EmulatedClearBackend(vfio);
  }
}
