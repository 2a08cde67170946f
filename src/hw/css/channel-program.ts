/**
 * A channel following a command-mode channel program: CCW fetch (format 0 or
 * 1), TIC, data chaining, command chaining, suspend, and the program checks a
 * hostile program earns. Work is bounded like a virtqueue walk: a program that
 * loops through TICs, or is longer than the budget, ends with a program check
 * in the subchannel status instead of running forever.
 */
import {
  CCW_CMD_TIC,
  CCW_FLAG_CC,
  CCW_FLAG_CD,
  CCW_FLAG_IDA,
  CCW_FLAG_MIDA,
  CCW_FLAG_SKIP,
  CCW_FLAG_SLI,
  CCW_FLAG_SUSPEND,
  CS_INCORRECT_LENGTH,
  CS_PROGRAM_CHECK,
  DS_CHANNEL_END,
  DS_DEVICE_END,
  DS_UNIT_CHECK,
  DS_UNIT_EXCEPTION,
} from './bits.js';
import type { CssMemory } from './guest-memory.js';

/** A CCW normalised to format-1 fields. */
export interface Ccw {
  cmd: number;
  flags: number;
  count: number;
  cda: number;
}

/** Device side of a subchannel: what the control unit does with each command. */
export interface CcwDevice {
  /** Write-type and control commands: `data` holds the bytes sent; returns device status and bytes accepted. */
  write(cmd: number, data: Uint8Array): { status: number; accepted: number };
  /** Read, read-backward and sense commands: returns device status and the bytes produced (at most maxCount). */
  read(cmd: number, maxCount: number): { status: number; data: Uint8Array };
  /** Sense bytes for concurrent sense after a unit check (may be empty). */
  senseBytes(): Uint8Array;
}

/** Why a program check was recognised (kept for diagnostics and tests). */
export type ProgramCheckReason =
  | 'cpa-misaligned'
  | 'ccw-fetch'
  | 'invalid-command'
  | 'tic-after-tic'
  | 'tic-misaligned'
  | 'tic-invalid'
  | 'data-address'
  | 'count-zero'
  | 'ida-unsupported'
  | 'data-access'
  | 'budget';

export interface ProgramOutcome {
  /** Address of the last CCW used + 8 (or of the suspended CCW when suspended). */
  cpa: number;
  count: number;
  dstat: number;
  cstat: number;
  /** CCWs fetched (including TICs). */
  steps: number;
  programCheck: ProgramCheckReason | null;
  /** Set when the channel suspended before the CCW at this address. */
  suspendedAt: number | null;
}

export interface ChannelProgramOptions {
  format1: boolean;
  /** ORB S: honour CCW suspend flags. */
  suspendCtl: boolean;
  /** ORB L: incorrect length suppression for immediate commands. */
  ils: boolean;
  /** Maximum CCWs fetched per start or resume (TICs included). */
  budget: number;
  /** Resuming (or resume pending at start): the next suspend flag met is ignored, once. */
  resuming?: boolean;
}

export const DEFAULT_CCW_BUDGET = 4096;
/** Largest data area one command may move (a data-chained command can span many CCWs). */
const MAX_DATA_BYTES = 1 << 20;

const ccwBuf = new Uint8Array(8);
const ccwView = new DataView(ccwBuf.buffer);

/** Fetch and normalise one CCW; null when its storage is unavailable. */
export function fetchCcw(mem: CssMemory, addr: number, format1: boolean): Ccw | null {
  if (!mem.read(addr, ccwBuf)) return null;
  if (format1) {
    return { cmd: ccwBuf[0]!, flags: ccwBuf[1]!, count: ccwView.getUint16(2, false), cda: ccwView.getUint32(4, false) };
  }
  return { cmd: ccwBuf[0]!, flags: ccwBuf[4]!, count: ccwView.getUint16(6, false), cda: ccwView.getUint32(0, false) & 0xffffff };
}

export function encodeCcw1(c: Ccw): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  out[0] = c.cmd;
  out[1] = c.flags;
  v.setUint16(2, c.count, false);
  v.setUint32(4, c.cda >>> 0, false);
  return out;
}

export function isTic(cmd: number): boolean {
  return (cmd & 0x0f) === CCW_CMD_TIC;
}

function isReadType(cmd: number): boolean {
  // Read (xxxxxx10), sense (xxxx0100) and read backward (xxxx1100).
  return (cmd & 3) === 2 || (cmd & 0x0f) === 0x04 || (cmd & 0x0f) === 0x0c;
}

function check(reason: ProgramCheckReason, ccwAddr: number, steps: number): ProgramOutcome {
  return { cpa: (ccwAddr + 8) >>> 0, count: 0, dstat: 0, cstat: CS_PROGRAM_CHECK, steps, programCheck: reason, suspendedAt: null };
}

interface Segment {
  cda: number;
  count: number;
  skip: boolean;
}

/**
 * Run the channel program at `cpa` to its end (or suspension, or first
 * error) against `device`. Data moves through `mem`; nothing here throws on
 * guest-controlled values.
 */
export function runChannelProgram(mem: CssMemory, device: CcwDevice, cpa: number, opts: ChannelProgramOptions): ProgramOutcome {
  let addr = cpa >>> 0;
  let steps = 0;
  if (addr & 7) return check('cpa-misaligned', addr - 8, steps);
  let prevTic = false;
  let resumeSkip = opts.resuming === true;
  let lastDstat = 0;
  let lastCount = 0;
  let lastCstat = 0;
  for (;;) {
    if (++steps > opts.budget) return check('budget', addr - 8, steps);
    const ccw = fetchCcw(mem, addr, opts.format1);
    if (!ccw) return check('ccw-fetch', addr, steps);
    if (isTic(ccw.cmd)) {
      if (prevTic) return check('tic-after-tic', addr, steps);
      if (opts.format1 && ((ccw.cmd & 0xf0) !== 0 || ccw.flags !== 0 || ccw.count !== 0)) return check('tic-invalid', addr, steps);
      if (ccw.cda & 7 || (opts.format1 && ccw.cda & 0x80000000)) return check('tic-misaligned', addr, steps);
      prevTic = true;
      addr = ccw.cda >>> 0;
      continue;
    }
    prevTic = false;
    if (opts.suspendCtl && ccw.flags & CCW_FLAG_SUSPEND) {
      // A pending resume cancels exactly one suspension.
      if (!resumeSkip) return { cpa: addr, count: lastCount, dstat: lastDstat, cstat: lastCstat, steps, programCheck: null, suspendedAt: addr };
      resumeSkip = false;
    }
    if ((ccw.cmd & 0x0f) === 0) return check('invalid-command', addr, steps);
    // Data chaining: gather the data area over CCWs with CD set; their command codes are ignored.
    const segs: Segment[] = [];
    let cur = ccw;
    let curAddr = addr;
    let total = 0;
    for (;;) {
      if (cur.flags & (CCW_FLAG_IDA | CCW_FLAG_MIDA)) return check('ida-unsupported', curAddr, steps);
      if (opts.format1 && cur.cda & 0x80000000) return check('data-address', curAddr, steps);
      if (!opts.format1 && cur.count === 0) return check('count-zero', curAddr, steps);
      segs.push({ cda: cur.cda >>> 0, count: cur.count, skip: (cur.flags & CCW_FLAG_SKIP) !== 0 });
      total += cur.count;
      if (total > MAX_DATA_BYTES) return check('budget', curAddr, steps);
      if (!(cur.flags & CCW_FLAG_CD)) break;
      // Data chaining may cross one TIC to reach the next data CCW.
      let nextAddr = curAddr + 8;
      if (++steps > opts.budget) return check('budget', curAddr, steps);
      let next = fetchCcw(mem, nextAddr, opts.format1);
      if (!next) return check('ccw-fetch', nextAddr, steps);
      if (isTic(next.cmd)) {
        if (next.cda & 7) return check('tic-misaligned', nextAddr, steps);
        nextAddr = next.cda >>> 0;
        if (++steps > opts.budget) return check('budget', nextAddr, steps);
        next = fetchCcw(mem, nextAddr, opts.format1);
        if (!next) return check('ccw-fetch', nextAddr, steps);
        if (isTic(next.cmd)) return check('tic-after-tic', nextAddr, steps);
      }
      cur = next;
      curAddr = nextAddr;
    }
    const lastSli = (cur.flags & CCW_FLAG_SLI) !== 0;
    let status: number;
    let residual: number;
    if (isReadType(ccw.cmd)) {
      const r = device.read(ccw.cmd, total);
      const n = Math.min(r.data.length, total);
      let off = 0;
      for (const s of segs) {
        if (off >= n) break;
        const len = Math.min(s.count, n - off);
        if (!s.skip && len > 0 && !mem.write(s.cda, r.data.subarray(off, off + len))) return check('data-access', curAddr, steps);
        off += len;
      }
      status = r.status;
      residual = total - n;
    } else {
      const data = new Uint8Array(total);
      let off = 0;
      for (const s of segs) {
        if (s.count > 0 && !mem.read(s.cda, data.subarray(off, off + s.count))) return check('data-access', curAddr, steps);
        off += s.count;
      }
      const w = device.write(ccw.cmd, data);
      status = w.status;
      residual = total - Math.min(Math.max(w.accepted, 0), total);
    }
    let cstat = 0;
    const immediate = (ccw.cmd & 3) === 3;
    if (residual !== 0 && !lastSli && !(immediate && opts.ils)) cstat |= CS_INCORRECT_LENGTH;
    lastDstat = status & 0xff;
    lastCount = residual;
    lastCstat = cstat;
    const unusual = (status & (DS_UNIT_CHECK | DS_UNIT_EXCEPTION)) !== 0 || cstat !== 0;
    const done = (status & (DS_CHANNEL_END | DS_DEVICE_END)) === (DS_CHANNEL_END | DS_DEVICE_END);
    if (cur.flags & CCW_FLAG_CC && done && !unusual) {
      addr = curAddr + 8;
      continue;
    }
    return { cpa: (curAddr + 8) >>> 0, count: residual, dstat: lastDstat, cstat, steps, programCheck: null, suspendedAt: null };
  }
}
