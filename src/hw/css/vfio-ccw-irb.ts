/**
 * IRB attribution for vfio-ccw: which outstanding host request an IRB
 * answers, decided from its function control at capture time (atomically
 * with TSCH), so io_todo never applies a late IRB to a newer request.
 */
import { AC_DEV_ACTIVE, AC_SCH_ACTIVE, FC_CLEAR, FC_HALT, FC_START, SC_ALERT, SC_INTERMEDIATE, SC_PRIMARY, SC_SECONDARY } from './bits.js';
import type { Irb } from './schib.js';

/** Which request an IRB is taken to answer. */
export interface Attribution {
  readonly fn: 'start' | 'halt' | 'clear' | 'unsolicited';
  /** Generation of the request (0 when none was outstanding). */
  readonly gen: number;
}

export interface CapturedIrb {
  readonly irb: Irb;
  /** Decided at capture time, atomically with TSCH. */
  readonly answers: Attribution;
  /** Start generation a final halt/clear IRB ended. */
  readonly endedStart: number;
}

/** One IRB reported to user space. */
export interface IrbReport {
  readonly irb: Irb;
  readonly attribution: Attribution;
}

/** The requests the host is working on, by generation (0 = none). */
export interface OutstandingOps {
  start: number;
  halt: number;
  clear: number;
}

/**
 * Decide which outstanding operation the IRB answers, from its function
 * control: clear if FC has clear, else halt, else start. A final IRB retires
 * that operation (a clear or halt also retires the start it ended).
 */
export function attributeIrb(outstanding: OutstandingOps, irb: Irb): CapturedIrb {
  const fn = irbFunction(irb);
  let endedStart = 0;
  let gen = 0;
  if (fn === 'clear') {
    gen = outstanding.clear;
    endedStart = outstanding.start;
    outstanding.clear = outstanding.halt = outstanding.start = 0;
  } else if (fn === 'halt') {
    gen = outstanding.halt;
    endedStart = outstanding.start;
    outstanding.halt = outstanding.start = 0;
  } else if (fn === 'start') {
    gen = outstanding.start;
    if (isFinal(irb)) outstanding.start = 0;
  }
  return { irb, answers: { fn, gen }, endedStart };
}

/** Whether the IRB ends its function (not intermediate status alone, nothing active). */
export function isFinal(irb: Irb): boolean {
  const sc = irb.scsw.sc;
  const intermediateOnly = (sc & SC_INTERMEDIATE) !== 0 && (sc & (SC_PRIMARY | SC_SECONDARY | SC_ALERT)) === 0;
  return !intermediateOnly && !(irb.scsw.ac & (AC_DEV_ACTIVE | AC_SCH_ACTIVE));
}

/** The function an IRB's function control names (the most drastic one). */
export function irbFunction(irb: Irb): Attribution['fn'] {
  const fc = irb.scsw.fc;
  if (fc & FC_CLEAR) return 'clear';
  if (fc & FC_HALT) return 'halt';
  if (fc & FC_START) return 'start';
  return 'unsolicited';
}
