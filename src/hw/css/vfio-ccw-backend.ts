/**
 * The user-space half of vfio-ccw pass-through (QEMU's part): the guest
 * subchannel's backend, turning guest I/O instructions into region writes on
 * VfioCcw and the IRBs it reports into guest status.
 */
import { FC_CLEAR, FC_HALT, FC_START, fcName, type Cc } from './bits.js';
import { copyScsw, type Orb } from './schib.js';
import type { BackendAnswer, StatusTag, Subchannel, SubchannelBackend } from './subchannel.js';
import type { VfioCcw } from './vfio-ccw.js';
import { EAGAIN, EBUSY, EINVAL, EIO, ENODEV, VFIO_OK } from './vfio-ccw-fsm.js';
import type { IrbReport } from './vfio-ccw-irb.js';

/** An I/O interruption presented to the guest, with the report it came from. */
export interface GuestInterruptRecord {
  readonly seq: number;
  /** Function control of the delivered status. */
  readonly fc: string;
  /** The guest function outstanding when it was delivered. */
  readonly guestFunction: string;
  /** The function the backend presented it as completing ('start' for a start absorbed by a halt). */
  readonly answered: string;
  readonly report: IrbReport;
}

/**
 * The user-space half (QEMU's part): the guest's subchannel backend, mapping
 * guest instructions to region writes and IRB reports to guest status.
 * CSCH/HSCH complete only when the IRB answering them arrives, so the guest
 * sees architectural condition codes (SSCH cc 2 while clear is in progress);
 * IRBs for superseded requests are not presented.
 */
export class VfioCcwGuestBackend implements SubchannelBackend {
  sch: Subchannel | null = null;
  readonly delivered: GuestInterruptRecord[] = [];
  private seq = 0;
  private startGen = 0;
  private haltGen = 0;
  protected clearGen = 0;
  /**
   * cc 2 given because the layer below refused, not because the guest's own
   * subchannel state said so: a condition code the architecture would not give.
   */
  refusals = 0;
  /** A guest HSCH met a start whose final status the host already had. */
  private haltAbsorbed = false;

  constructor(protected readonly vfio: VfioCcw) {
    vfio.onIoRegion = (r) => this.onReport(r);
  }

  start(_sch: Subchannel, orb: Orb): BackendAnswer {
    let r = this.vfio.ioRequest(orb);
    for (let tries = 0; r.ret === EAGAIN && tries < 3; tries++) r = this.vfio.ioRequest(orb);
    switch (r.ret) {
      case VFIO_OK:
        this.startGen = this.vfio.lastGen;
        return 0;
      case EINVAL:
        return { programCheck: true, cpa: orb.cpa };
      case ENODEV:
      case EIO:
        return 3;
      default:
        this.refusals++;
        return 2;
    }
  }

  halt(_sch: Subchannel): Cc {
    const r = this.vfio.asyncRequest('halt');
    this.haltAbsorbed = false;
    if (r.ret === VFIO_OK) {
      this.haltGen = this.vfio.lastGen;
      return 0;
    }
    if (r.ret === ENODEV || r.ret === EIO) return 3;
    if (r.ret === EBUSY && this.absorbHalt()) {
      // The host already has the start's final status (not yet reflected to the guest): the
      // guest's subchannel is start-active without status, so HSCH is cc 0, and the start's
      // status will arrive with the halt function indicated.
      this.haltGen = 0;
      this.haltAbsorbed = true;
      return 0;
    }
    this.refusals++;
    return 2;
  }

  /** Whether a halt the host refused (its start already ended) completes with the start's status. */
  protected absorbHalt(): boolean {
    return true;
  }

  clear(sch: Subchannel): Cc {
    const r = this.vfio.asyncRequest('clear');
    if (r.ret === ENODEV || r.ret === EIO) return 3;
    if (r.ret === VFIO_OK) this.clearGen = this.vfio.lastGen;
    else this.completeClearNow(sch);
    return 0;
  }

  /** The clear completes in the guest at once (used when the host had nothing to clear). */
  protected completeClearNow(sch: Subchannel): void {
    sch.finishClear(sch.ops.clear);
    this.clearGen = 0;
  }

  resume(_sch: Subchannel): Cc {
    // Suspend/resume is not passed through.
    return 2;
  }

  /**
   * Whether a report answers what the guest has outstanding (`guestFunction`),
   * so it is presented; `absorbed` when it is the start's status a halt absorbed.
   */
  protected wanted(r: IrbReport, guestFunction: string, absorbed: boolean): boolean {
    const a = r.attribution;
    return (
      absorbed ||
      (a.fn === 'clear' && a.gen === this.clearGen && guestFunction === 'clear') ||
      (a.fn === 'halt' && a.gen === this.haltGen && guestFunction === 'halt') ||
      (a.fn === 'start' && a.gen === this.startGen && guestFunction === 'start')
    );
  }

  private onReport(r: IrbReport): void {
    const sch = this.sch;
    if (!sch) return;
    const fc = sch.scsw.fc;
    const guestFunction = fc & FC_CLEAR ? 'clear' : fc & FC_HALT ? 'halt' : fc & FC_START ? 'start' : 'none';
    const a = r.attribution;
    const absorbed = a.fn === 'start' && a.gen === this.startGen && guestFunction === 'halt' && this.haltAbsorbed;
    if (!this.wanted(r, guestFunction, absorbed)) return;
    const answered = absorbed ? 'start' : guestFunction;
    const fn = guestFunction as StatusTag['fn'];
    const tag: StatusTag = { fn, opId: sch.ops[fn] };
    this.delivered.push({ seq: ++this.seq, fc: fcName(r.irb.scsw.fc), guestFunction, answered, report: r });
    const scsw = copyScsw(r.irb.scsw);
    if (absorbed) {
      scsw.fc |= FC_HALT;
      this.haltAbsorbed = false;
    }
    sch.presentIrb({ ...r.irb, scsw }, tag);
  }
}
