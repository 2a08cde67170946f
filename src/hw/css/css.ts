/**
 * The guest's channel subsystem: the subchannels it can address and the I/O
 * instructions with their operands as the guest supplies them (general
 * register 1 with the subsystem-identification word, a storage operand for
 * the ORB, IRB or SCHIB). Operand errors become program exceptions in the
 * result, in the architecture's order: malformed subsystem id (operand),
 * misaligned storage operand (specification), unavailable storage
 * (addressing), reserved bits in a fetched block (operand), then condition
 * code 3 for a subchannel that is not there.
 */
import { ccResult, exceptionResult, type IoInstResult } from './bits.js';
import type { CssMemory } from './guest-memory.js';
import {
  decodeOrb,
  decodeSchib,
  decodeSchid,
  encodeIrb,
  encodeSchib,
  ORB_SIZE,
  PMCW_W1_RESERVED,
  PMCW_W6_RESERVED,
  SCHIB_SIZE,
} from './schib.js';
import type { Subchannel } from './subchannel.js';

/** An I/O interruption the guest has not yet accepted (TPI / interruption). */
export interface PendingIoInterruption {
  readonly ssid: number;
  readonly schno: number;
  readonly intParm: number;
  readonly isc: number;
}

export class ChannelSubsystem {
  private readonly subchannels = new Map<number, Subchannel>();
  /** Subchannels that requested an I/O interruption, oldest first. */
  private readonly pending: Subchannel[] = [];

  constructor(private readonly memory: CssMemory) {}

  private static key(ssid: number, schno: number): number {
    return ssid * 0x10000 + schno;
  }

  /** Install a subchannel; its interruption requests are queued here. */
  attach(sch: Subchannel): void {
    this.subchannels.set(ChannelSubsystem.key(sch.ssid, sch.schno), sch);
    sch.interruptSink = (s) => {
      if (!this.pending.includes(s)) this.pending.push(s);
    };
  }

  find(ssid: number, schno: number): Subchannel | undefined {
    return this.subchannels.get(ChannelSubsystem.key(ssid, schno));
  }

  private lookup(schid: number): { sch: Subchannel | undefined } | null {
    const id = decodeSchid(schid);
    if (!id) return null;
    return { sch: this.find(id.ssid, id.schno) };
  }

  ssch(schid: number, orbAddr: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    if (!Number.isSafeInteger(orbAddr) || orbAddr & 3) return exceptionResult('specification');
    const buf = new Uint8Array(ORB_SIZE);
    if (!this.memory.read(orbAddr, buf)) return exceptionResult('addressing');
    const { orb, valid } = decodeOrb(buf);
    if (!valid) return exceptionResult('operand');
    if (!l.sch) return ccResult(3);
    return ccResult(l.sch.ssch(orb));
  }

  hsch(schid: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    return ccResult(l.sch ? l.sch.hsch() : 3);
  }

  csch(schid: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    return ccResult(l.sch ? l.sch.csch() : 3);
  }

  rsch(schid: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    return ccResult(l.sch ? l.sch.rsch() : 3);
  }

  tsch(schid: number, irbAddr: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    if (!Number.isSafeInteger(irbAddr) || irbAddr & 3) return exceptionResult('specification');
    if (!l.sch) return ccResult(3);
    const r = l.sch.tschPeek();
    if (r.cc === 3) return ccResult(3);
    if (!this.memory.write(irbAddr, encodeIrb(r.irb))) return exceptionResult('addressing');
    if (r.cc === 0) {
      l.sch.tschCommit();
      this.withdraw(l.sch);
    }
    return ccResult(r.cc);
  }

  stsch(schid: number, schibAddr: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    if (!Number.isSafeInteger(schibAddr) || schibAddr & 3) return exceptionResult('specification');
    if (!l.sch) return ccResult(3);
    const snap = l.sch.stsch();
    if (!this.memory.write(schibAddr, encodeSchib(snap.pmcw, snap.scsw, snap.mda))) return exceptionResult('addressing');
    return ccResult(0);
  }

  msch(schid: number, schibAddr: number): IoInstResult {
    const l = this.lookup(schid);
    if (!l) return exceptionResult('operand');
    if (!Number.isSafeInteger(schibAddr) || schibAddr & 3) return exceptionResult('specification');
    const buf = new Uint8Array(SCHIB_SIZE);
    if (!this.memory.read(schibAddr, buf)) return exceptionResult('addressing');
    const d = decodeSchib(buf);
    if (d.rawW1 & PMCW_W1_RESERVED || d.rawW6 & PMCW_W6_RESERVED) return exceptionResult('operand');
    if (!l.sch) return ccResult(3);
    return ccResult(l.sch.msch(d.pmcw, d.mda));
  }

  private withdraw(sch: Subchannel): void {
    const i = this.pending.indexOf(sch);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /**
   * TEST PENDING INTERRUPTION: accept the oldest interruption whose status is
   * still pending (requests overtaken by TSCH or CSCH are dropped), or null.
   * Status stays pending until TSCH, as the architecture says.
   */
  tpi(): PendingIoInterruption | null {
    while (this.pending.length > 0) {
      const sch = this.pending.shift()!;
      if (!sch.statusPending || !sch.pmcw.enabled) continue;
      return { ssid: sch.ssid, schno: sch.schno, intParm: sch.pmcw.intParm, isc: sch.pmcw.isc };
    }
    return null;
  }

  get pendingInterruptions(): number {
    return this.pending.filter((s) => s.statusPending && s.pmcw.enabled).length;
  }
}
