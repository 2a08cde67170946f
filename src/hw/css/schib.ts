/**
 * The channel subsystem's control blocks: PMCW, SCSW, SCHIB, ORB and IRB, kept
 * unpacked and packed/unpacked at the big-endian guest boundary.
 */

/** Path-management control word (28 bytes in the SCHIB). */
export interface Pmcw {
  intParm: number;
  isc: number;
  /** E: the subchannel is enabled for I/O interruptions (and, here, for I/O instructions). */
  enabled: boolean;
  limitMode: number;
  measurementMode: number;
  multipath: boolean;
  timing: boolean;
  /** V: device number valid; a subchannel without it is not operational. */
  dnv: boolean;
  devno: number;
  lpm: number;
  pnom: number;
  lpum: number;
  pim: number;
  mbi: number;
  pom: number;
  pam: number;
  chpids: Uint8Array;
  /** Word 6 low bits: F (measurement-block format), X (extended measurement word), S (concurrent sense). */
  chars: number;
}

export const PMCW_CHARS_S = 0x1;
export const PMCW_CHARS_X = 0x2;
export const PMCW_CHARS_F = 0x4;
/** Reserved bits that MSCH requires to be zero (word 1 bits 0-1 and 5-7; word 6 bits 0-28). */
export const PMCW_W1_RESERVED = 0xc7000000;
export const PMCW_W6_RESERVED = 0xfffffff8;

export function newPmcw(devno: number, valid: boolean): Pmcw {
  return {
    intParm: 0,
    isc: 0,
    enabled: false,
    limitMode: 0,
    measurementMode: 0,
    multipath: false,
    timing: false,
    dnv: valid,
    devno: devno & 0xffff,
    lpm: 0x80,
    pnom: 0,
    lpum: 0,
    pim: 0x80,
    mbi: 0,
    pom: 0xff,
    pam: 0x80,
    chpids: new Uint8Array(8),
    chars: 0,
  };
}

/** Subchannel-status word (12 bytes). */
export interface Scsw {
  key: number;
  /** S: suspend control from the ORB of the current start function. */
  suspendCtl: boolean;
  eswFormat: boolean;
  deferredCc: number;
  ccwFormat1: boolean;
  prefetch: boolean;
  initialStatus: boolean;
  addrLimit: boolean;
  suppressSuspendedInt: boolean;
  zeroCc: boolean;
  extendedCtl: boolean;
  pathNotOper: boolean;
  fc: number;
  ac: number;
  sc: number;
  cpa: number;
  dstat: number;
  cstat: number;
  count: number;
}

export function newScsw(): Scsw {
  return {
    key: 0,
    suspendCtl: false,
    eswFormat: false,
    deferredCc: 0,
    ccwFormat1: false,
    prefetch: false,
    initialStatus: false,
    addrLimit: false,
    suppressSuspendedInt: false,
    zeroCc: false,
    extendedCtl: false,
    pathNotOper: false,
    fc: 0,
    ac: 0,
    sc: 0,
    cpa: 0,
    dstat: 0,
    cstat: 0,
    count: 0,
  };
}

export function copyScsw(s: Scsw): Scsw {
  return { ...s };
}

function b(v: boolean, bit: number): number {
  return v ? bit : 0;
}

export function scswWord0(s: Scsw): number {
  return (
    (((s.key & 0xf) << 28) |
      b(s.suspendCtl, 1 << 27) |
      b(s.eswFormat, 1 << 26) |
      ((s.deferredCc & 3) << 24) |
      b(s.ccwFormat1, 1 << 23) |
      b(s.prefetch, 1 << 22) |
      b(s.initialStatus, 1 << 21) |
      b(s.addrLimit, 1 << 20) |
      b(s.suppressSuspendedInt, 1 << 19) |
      b(s.zeroCc, 1 << 18) |
      b(s.extendedCtl, 1 << 17) |
      b(s.pathNotOper, 1 << 16) |
      ((s.fc & 7) << 12) |
      ((s.ac & 0x7f) << 5) |
      (s.sc & 0x1f)) >>>
    0
  );
}

export function encodeScsw(s: Scsw, out: DataView, off: number): void {
  out.setUint32(off, scswWord0(s), false);
  out.setUint32(off + 4, s.cpa >>> 0, false);
  out.setUint32(off + 8, (((s.dstat & 0xff) << 24) | ((s.cstat & 0xff) << 16) | (s.count & 0xffff)) >>> 0, false);
}

export function decodeScsw(v: DataView, off: number): Scsw {
  const w0 = v.getUint32(off, false);
  const w2 = v.getUint32(off + 8, false);
  return {
    key: w0 >>> 28,
    suspendCtl: (w0 & (1 << 27)) !== 0,
    eswFormat: (w0 & (1 << 26)) !== 0,
    deferredCc: (w0 >>> 24) & 3,
    ccwFormat1: (w0 & (1 << 23)) !== 0,
    prefetch: (w0 & (1 << 22)) !== 0,
    initialStatus: (w0 & (1 << 21)) !== 0,
    addrLimit: (w0 & (1 << 20)) !== 0,
    suppressSuspendedInt: (w0 & (1 << 19)) !== 0,
    zeroCc: (w0 & (1 << 18)) !== 0,
    extendedCtl: (w0 & (1 << 17)) !== 0,
    pathNotOper: (w0 & (1 << 16)) !== 0,
    fc: (w0 >>> 12) & 7,
    ac: (w0 >>> 5) & 0x7f,
    sc: w0 & 0x1f,
    cpa: v.getUint32(off + 4, false),
    dstat: w2 >>> 24,
    cstat: (w2 >>> 16) & 0xff,
    count: w2 & 0xffff,
  };
}

export const PMCW_SIZE = 28;
export const SCSW_SIZE = 12;
export const SCHIB_SIZE = 52;

/** The raw PMCW words 1 and 6 as fetched, so MSCH can check reserved bits before decoding. */
export interface DecodedSchib {
  pmcw: Pmcw;
  scsw: Scsw;
  mda: Uint8Array;
  rawW1: number;
  rawW6: number;
}

export function encodeSchib(p: Pmcw, s: Scsw, mda: Uint8Array): Uint8Array {
  const out = new Uint8Array(SCHIB_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, p.intParm >>> 0, false);
  v.setUint32(
    4,
    (((p.isc & 7) << 27) |
      b(p.enabled, 1 << 23) |
      ((p.limitMode & 3) << 21) |
      ((p.measurementMode & 3) << 19) |
      b(p.multipath, 1 << 18) |
      b(p.timing, 1 << 17) |
      b(p.dnv, 1 << 16) |
      (p.devno & 0xffff)) >>>
      0,
    false,
  );
  v.setUint32(8, (((p.lpm & 0xff) << 24) | ((p.pnom & 0xff) << 16) | ((p.lpum & 0xff) << 8) | (p.pim & 0xff)) >>> 0, false);
  v.setUint32(12, (((p.mbi & 0xffff) << 16) | ((p.pom & 0xff) << 8) | (p.pam & 0xff)) >>> 0, false);
  out.set(p.chpids.subarray(0, 8), 16);
  v.setUint32(24, p.chars & 7, false);
  encodeScsw(s, v, PMCW_SIZE);
  out.set(mda.subarray(0, 12), PMCW_SIZE + SCSW_SIZE);
  return out;
}

export function decodeSchib(bytes: Uint8Array): DecodedSchib {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w1 = v.getUint32(4, false);
  const w2 = v.getUint32(8, false);
  const w3 = v.getUint32(12, false);
  const w6 = v.getUint32(24, false);
  const pmcw: Pmcw = {
    intParm: v.getUint32(0, false),
    isc: (w1 >>> 27) & 7,
    enabled: (w1 & (1 << 23)) !== 0,
    limitMode: (w1 >>> 21) & 3,
    measurementMode: (w1 >>> 19) & 3,
    multipath: (w1 & (1 << 18)) !== 0,
    timing: (w1 & (1 << 17)) !== 0,
    dnv: (w1 & (1 << 16)) !== 0,
    devno: w1 & 0xffff,
    lpm: w2 >>> 24,
    pnom: (w2 >>> 16) & 0xff,
    lpum: (w2 >>> 8) & 0xff,
    pim: w2 & 0xff,
    mbi: w3 >>> 16,
    pom: (w3 >>> 8) & 0xff,
    pam: w3 & 0xff,
    chpids: bytes.slice(16, 24),
    chars: w6 & 7,
  };
  return { pmcw, scsw: decodeScsw(v, PMCW_SIZE), mda: bytes.slice(40, 52), rawW1: w1, rawW6: w6 };
}

/** Operation-request block (command mode; 12 bytes, 32 with the ORB extension). */
export interface Orb {
  intParm: number;
  key: number;
  suspend: boolean;
  streaming: boolean;
  modification: boolean;
  synchronization: boolean;
  format1: boolean;
  prefetch: boolean;
  initialStatus: boolean;
  addrLimit: boolean;
  suppressSuspendedInt: boolean;
  transportMode: boolean;
  idaw2: boolean;
  idaw2k: boolean;
  lpm: number;
  ils: boolean;
  midaw: boolean;
  extension: boolean;
  cpa: number;
}

export const ORB_SIZE = 12;
/** Word 1 bits 26-30 are reserved. */
export const ORB_W1_RESERVED = 0x3e;

export function orb(partial: Partial<Orb> & { cpa: number }): Orb {
  return {
    intParm: 0,
    key: 0,
    suspend: false,
    streaming: false,
    modification: false,
    synchronization: false,
    format1: true,
    prefetch: false,
    initialStatus: false,
    addrLimit: false,
    suppressSuspendedInt: false,
    transportMode: false,
    idaw2: false,
    idaw2k: false,
    lpm: 0xff,
    ils: false,
    midaw: false,
    extension: false,
    ...partial,
  };
}

export function encodeOrb(o: Orb): Uint8Array {
  const out = new Uint8Array(ORB_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.intParm >>> 0, false);
  v.setUint32(
    4,
    (((o.key & 0xf) << 28) |
      b(o.suspend, 1 << 27) |
      b(o.streaming, 1 << 26) |
      b(o.modification, 1 << 25) |
      b(o.synchronization, 1 << 24) |
      b(o.format1, 1 << 23) |
      b(o.prefetch, 1 << 22) |
      b(o.initialStatus, 1 << 21) |
      b(o.addrLimit, 1 << 20) |
      b(o.suppressSuspendedInt, 1 << 19) |
      b(o.transportMode, 1 << 18) |
      b(o.idaw2, 1 << 17) |
      b(o.idaw2k, 1 << 16) |
      ((o.lpm & 0xff) << 8) |
      b(o.ils, 1 << 7) |
      b(o.midaw, 1 << 6) |
      b(o.extension, 1)) >>>
      0,
    false,
  );
  v.setUint32(8, o.cpa >>> 0, false);
  return out;
}

/** Decoded ORB plus whether the reserved bits the architecture checks were zero. */
export function decodeOrb(bytes: Uint8Array): { orb: Orb; valid: boolean } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w1 = v.getUint32(4, false);
  const cpa = v.getUint32(8, false);
  const o: Orb = {
    intParm: v.getUint32(0, false),
    key: w1 >>> 28,
    suspend: (w1 & (1 << 27)) !== 0,
    streaming: (w1 & (1 << 26)) !== 0,
    modification: (w1 & (1 << 25)) !== 0,
    synchronization: (w1 & (1 << 24)) !== 0,
    format1: (w1 & (1 << 23)) !== 0,
    prefetch: (w1 & (1 << 22)) !== 0,
    initialStatus: (w1 & (1 << 21)) !== 0,
    addrLimit: (w1 & (1 << 20)) !== 0,
    suppressSuspendedInt: (w1 & (1 << 19)) !== 0,
    transportMode: (w1 & (1 << 18)) !== 0,
    idaw2: (w1 & (1 << 17)) !== 0,
    idaw2k: (w1 & (1 << 16)) !== 0,
    lpm: (w1 >>> 8) & 0xff,
    ils: (w1 & (1 << 7)) !== 0,
    midaw: (w1 & (1 << 6)) !== 0,
    extension: (w1 & 1) !== 0,
    cpa,
  };
  // Transport mode needs a facility this model does not offer, so its bit is
  // reserved here; the channel-program address is a 31-bit address.
  const valid = (w1 & ORB_W1_RESERVED) === 0 && !o.transportMode && (cpa & 0x80000000) === 0;
  return { orb: o, valid };
}

/** Interruption-response block: SCSW, ESW (format 0), ECW; EMW only with PMCW X. */
export interface Irb {
  scsw: Scsw;
  /** ESW word 0 (subchannel logout; LPUM in bits 8-15) and word 1 (extended-report word). */
  eswWord0: number;
  erw: number;
  ecw: Uint8Array;
}

export const IRB_SIZE = 64;
export const ERW_CONCURRENT_SENSE = 1 << 24;

export function encodeIrb(irb: Irb): Uint8Array {
  const out = new Uint8Array(IRB_SIZE);
  const v = new DataView(out.buffer);
  encodeScsw(irb.scsw, v, 0);
  v.setUint32(12, irb.eswWord0 >>> 0, false);
  v.setUint32(16, irb.erw >>> 0, false);
  out.set(irb.ecw.subarray(0, 32), 32);
  return out;
}

export function decodeIrb(bytes: Uint8Array): Irb {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { scsw: decodeScsw(v, 0), eswWord0: v.getUint32(12, false), erw: v.getUint32(16, false), ecw: bytes.slice(32, 64) };
}

/** Subsystem-identification word (general register 1): 0x0001 | ssid << 1 in the high half. */
export function schidWord(ssid: number, schno: number): number {
  return ((((ssid & 3) << 1) | 1) * 0x10000 + (schno & 0xffff)) >>> 0;
}

/** Decode a subsystem-identification word; null when malformed (operand exception). */
export function decodeSchid(word: number): { ssid: number; schno: number } | null {
  if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) return null;
  const hi = word >>> 16;
  if ((hi & 1) === 0 || (hi & ~7) !== 0) return null;
  return { ssid: (hi >>> 1) & 3, schno: word & 0xffff };
}
