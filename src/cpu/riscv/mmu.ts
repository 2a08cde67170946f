import { MEMTX_OK } from '../../memory/types.js';
import { CI, CV, LOAD_SIZE, NO_PAGE, RAM_WINDOW, RamWindow, TLB_MASK, TWO32, toU64 } from './common.js';
import { CAUSE_FETCH_ACCESS, CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_ACCESS, CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_ACCESS, CAUSE_STORE_PAGE_FAULT, MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_MXR, MSTATUS_SUM, PRV_M, PRV_S, PRV_U } from './constants.js';
import type { Hart } from './hart.js';
import { ST_TLB_TAG, ST_TLB_VPN_TAG, TAG_NOT_IN_MEMORY } from './state-area.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE } from './pmp.js';
// ------------------------------------------------------------------ MMU

/**
 * What a TLB entry's permission check depended on besides satp and the page
 * tables: the fetch privilege, the data privilege (MPRV/MPP), SUM and MXR.
 */
function tlbContext(h: Hart): number {
  return h.priv | (dataPriv(h) << 2) | ((h.mstatus & MSTATUS_SUM) !== 0 ? 16 : 0) | ((h.mstatus & MSTATUS_MXR) !== 0 ? 32 : 0);
}

/**
 * After a privilege or mstatus change (trap entry, mret/sret, a status CSR
 * write): switch the TLBs to the new translation context. Entries carry the
 * context they were filled under in their tags (state-area.ts), so those of
 * other contexts simply miss until the hart returns to that context: each
 * system call or page fault from user mode (and each toggle of SUM around a
 * user copy) used to drop every entry, 44,000 times and 2.9 M page walks in
 * a Linux boot to its shell.
 */
export function syncTlbContext(h: Hart): void {
  const c = tlbContext(h);
  if (c === h.tlbContext) return;
  setTlbContext(h, c);
  // What the cached fetch page and the running chain of translated blocks looked up is of
  // the old context: drop the one, end the other (and the interpreter reloads its tag).
  h.fetchBase = NaN;
  h.tlbFlushes++;
}

function setTlbContext(h: Hart, c: number): void {
  h.tlbContext = c;
  h.tlbTag = c << 3;
  h.tlbVpnTag = c << 20;
  h.stateI32[ST_TLB_TAG / 4] = h.tlbTag;
  h.stateI32[ST_TLB_VPN_TAG / 4] = h.tlbVpnTag;
}

/** Drop every cached translation (and the fetch page). */
export function flushTlb(h: Hart): void {
  setTlbContext(h, tlbContext(h));
  // A memory-map change (device plugged, ROM device switching modes) may put different bytes
  // at a translated physical address without any store: the translator re-checks its pages.
  if (h.jit && h.epoch !== h.mem.epoch) h.jit.recheckPages();
  h.rTlb.fill(NO_PAGE);
  h.wTlb.fill(NO_PAGE);
  h.xTagLo.fill(NO_PAGE);
  h.rioTagLo.fill(NO_PAGE);
  h.wioTagLo.fill(NO_PAGE);
  h.fetchBase = NaN;
  h.tlbFlushes++;
  h.superpages.clear();
  h.superpagesAll = false;
  h.epoch = h.mem.epoch;
  h.codeEpoch = h.codeSync.epoch();
}

/** Superpages (leaf PTEs above level 0) the TLBs may hold pages of: more than this many, and sfence.vma drops everything. */
const MAX_SUPERPAGES = 1024;

function superpageKey(lo: number, hi: number, level: number): number {
  const va = hi * TWO32 + (lo >>> 0);
  return Math.floor(va / SUPERPAGE_BYTES[level]!) * 4 + level;
}
const SUPERPAGE_BYTES = [4096, 2 ** 21, 2 ** 30, 2 ** 39];

/**
 * sfence.vma with an address: drop the translations of that virtual page
 * only, unless a superpage containing it may be cached (its 4 KiB pieces sit
 * at other TLB indexes) — then everything. Linux issues one of these after
 * most page-table updates (a hundred thousand during boot); flushing the whole
 * TLB each time made page walks a tenth of the boot.
 */
export function flushTlbPage(h: Hart, lo: number, hi: number): void {
  if (h.epoch !== h.mem.epoch || h.superpagesAll) return flushTlb(h);
  const sp = h.superpages;
  if (sp.size !== 0 && (sp.has(superpageKey(lo, hi, 1)) || sp.has(superpageKey(lo, hi, 2)) || sp.has(superpageKey(lo, hi, 3)))) return flushTlb(h);
  const vpn = lo >>> 12;
  const i = vpn & TLB_MASK;
  // The page's entry of whichever context filled it (tags carry the context: setTlbContext).
  const k = i << 2;
  if ((h.rTlb[k]! & -4096) === (lo & -4096) && h.rTlb[k + 1] === hi) h.rTlb[k] = NO_PAGE;
  if ((h.wTlb[k]! & -4096) === (lo & -4096) && h.wTlb[k + 1] === hi) h.wTlb[k] = NO_PAGE;
  if ((h.xTagLo[i]! & 0xfffff) === vpn && h.xTagHi[i] === hi) h.xTagLo[i] = NO_PAGE;
  if ((h.rioTagLo[i]! & 0xfffff) === vpn && h.rioTagHi[i] === hi) h.rioTagLo[i] = NO_PAGE;
  if ((h.wioTagLo[i]! & 0xfffff) === vpn && h.wioTagHi[i] === hi) h.wioTagLo[i] = NO_PAGE;
  h.fetchBase = NaN;
  h.tlbFlushes++;
}

/**
 * Whether entry `ii` of the data TLB `rec` (h.rTlb or h.wTlb) maps the page of (lo, hi) in the
 * current context, for the JavaScript side: a page outside the state area's memory is a hit
 * here too (its TAG_NOT_IN_MEMORY only makes WebAssembly's compare miss).
 */
function dataTlbHit(h: Hart, rec: Int32Array, ii: number, lo: number, hi: number): boolean {
  const k = ii << 2;
  return (rec[k]! & ~TAG_NOT_IN_MEMORY) === ((lo & -4096) | h.tlbTag) && rec[k + 1] === hi;
}

/** Drop the store TLB: a page became a code page somewhere (CodeSync epoch moved). */
export function flushStoreTlb(h: Hart): void {
  h.wTlb.fill(NO_PAGE);
  h.codeEpoch = h.codeSync.epoch();
}

/** The window of `bytes`' buffer holding byte offset `at` of that buffer. */
function viewsOf(h: Hart, bytes: Uint8Array, at: number): RamWindow {
  const buf = bytes.buffer;
  let ws = h.views.get(buf);
  if (ws === undefined) {
    ws = [];
    h.views.set(buf, ws);
  }
  const w = Math.floor(at / RAM_WINDOW);
  let v = ws[w];
  if (v === undefined) {
    const base = w * RAM_WINDOW;
    const len = Math.min(RAM_WINDOW, buf.byteLength - base);
    v = {
      base,
      dv: new DataView(buf, base, len),
      i32: new Int32Array(buf, base, Math.floor(len / 4)),
      i64: new BigInt64Array(buf, base, Math.floor(len / 8)),
      f64: new Float64Array(buf, base, Math.floor(len / 8)),
    };
    ws[w] = v;
  }
  return v;
}

/** Privilege used for data accesses (MPRV). */
export function dataPriv(h: Hart): number {
  if (h.priv === PRV_M && (h.mstatus & MSTATUS_MPRV) !== 0) return (h.mstatus >> MSTATUS_MPP_SHIFT) & 3;
  return h.priv;
}

export function fault(h: Hart, acc: number, page: boolean, lo: number, hi: number): never {
  const cause = page
    ? acc === ACC_READ
      ? CAUSE_LOAD_PAGE_FAULT
      : acc === ACC_WRITE
        ? CAUSE_STORE_PAGE_FAULT
        : CAUSE_FETCH_PAGE_FAULT
    : acc === ACC_READ
      ? CAUSE_LOAD_ACCESS
      : acc === ACC_WRITE
        ? CAUSE_STORE_ACCESS
        : CAUSE_FETCH_ACCESS;
  return h.raise(cause, toU64(lo, hi));
}


/**
 * Translate a virtual address (halves) for an access of kind `acc`; checks
 * page permissions and PMP for the first byte's page. Returns the physical
 * address; raises a page or access fault otherwise.
 */
export function translate(h: Hart, lo: number, hi: number, acc: number, size = 1): number {
  const priv = acc === ACC_EXEC ? h.priv : dataPriv(h);
  let pa: number;
  if (priv === PRV_M || h.satpMode === 0) {
    if (hi < 0 || hi >= 0x200000) fault(h, acc, false, lo, hi);
    pa = hi * TWO32 + (lo >>> 0);
  } else {
    pa = walk(h, lo, hi, acc, priv);
  }
  if (!h.pmp.check(pa, size, priv, acc)) fault(h, acc, false, lo, hi);
  h.lastCacheable = h.pmp.pageAllowed(pa - (pa % 4096), priv, acc);
  return pa;
}

/**
 * The RAM window holding physical [pa, pa + len), with the byte offset of pa
 * in its buffer left in h.ramAt; null where that is not RAM (or ROM, for a
 * read). Page walks and TLB fills nearly always land in the same RAM block, so
 * its range is cached until the memory map changes (a flat-view lookup and an
 * allocation per PTE read were a tenth of a Linux boot).
 */
export function ramWindow(h: Hart, pa: number, len: number, isWrite: boolean): RamWindow | null {
  if (pa >= h.rcLo && pa + len <= h.rcHi && h.rcEpoch === h.mem.epoch && (h.rcWritable || !isWrite)) {
    h.ramAt = pa + h.rcDelta;
    return h.rcWin;
  }
  const rp = h.mem.ramPtr(pa, len, isWrite);
  if (rp === null) return null;
  const at = rp.bytes.byteOffset + rp.offset;
  const v = viewsOf(h, rp.bytes, at);
  const delta = at - pa;
  h.rcLo = Math.max(rp.base, v.base - delta);
  h.rcHi = Math.min(rp.base + rp.length, v.base + v.dv.byteLength - delta);
  h.rcDelta = delta;
  h.rcWin = v;
  h.rcEpoch = h.mem.epoch;
  h.rcWritable = isWrite || h.mem.ramPtr(pa, len, true) !== null;
  h.rcInState = rp.bytes.buffer === h.stateBuffer;
  h.ramAt = at;
  return v;
}

export function physLoad64(h: Hart, pa: number): boolean {
  if (!h.pmp.check(pa, 8, PRV_S, ACC_READ)) return false;
  const v = ramWindow(h, pa, 8, false);
  if (v !== null) {
    // A PTE another hart may be writing: one 8-byte access, never torn.
    const a = h.ramAt - v.base;
    if ((a & 7) === 0) {
      CV[0] = v.f64[a >> 3]!;
      h.tLo = CI[0]!;
      h.tHi = CI[1]!;
      return true;
    }
  }
  if (h.mem.load(pa, 8, h.attrs) !== MEMTX_OK) return false;
  h.tLo = h.mem.valLo | 0;
  h.tHi = h.mem.valHi | 0;
  return true;
}

export function walk(h: Hart, lo: number, hi: number, acc: number, priv: number): number {
  const levels = h.satpMode === 8 ? 3 : 4;
  const vaBits = levels === 3 ? 39 : 48;
  const top = hi >> (vaBits - 1 - 32);
  if (top !== 0 && top !== -1) fault(h, acc, true, lo, hi);
  let a = h.satpPpnAddr;
  const mxr = (h.mstatus & MSTATUS_MXR) !== 0;
  const sum = (h.mstatus & MSTATUS_SUM) !== 0;
  for (let level = levels - 1; level >= 0; level--) {
    let vpn: number;
    if (level === 0) vpn = (lo >>> 12) & 511;
    else if (level === 1) vpn = (lo >>> 21) & 511;
    else if (level === 2) vpn = ((lo >>> 30) | (hi << 2)) & 511;
    else vpn = (hi >>> 7) & 511;
    const pteAddr = a + vpn * 8;
    if (!physLoad64(h, pteAddr)) fault(h, acc, false, lo, hi);
    let pLo = h.tLo;
    const pHi = h.tHi;
    if ((pLo & 1) === 0 || (pLo & 6) === 4) fault(h, acc, true, lo, hi);
    if (pHi >>> 22 !== 0) fault(h, acc, true, lo, hi); // N, PBMT, reserved bits: not implemented
    const ppn = (pHi & 0x3fffff) * 4194304 + (pLo >>> 10);
    if ((pLo & 0xa) === 0) {
      // pointer to the next level
      if ((pLo & 0xd0) !== 0) fault(h, acc, true, lo, hi); // D, A, U must be clear on non-leaf PTEs
      a = ppn * 4096;
      continue;
    }
    // leaf
    const pages = level === 0 ? 1 : level === 1 ? 512 : level === 2 ? 262144 : 134217728;
    if (ppn % pages !== 0) fault(h, acc, true, lo, hi);
    if (level !== 0 && !h.superpagesAll) {
      // The TLBs may cache pages of this superpage from now on (flushTlbPage).
      if (h.superpages.size >= MAX_SUPERPAGES) h.superpagesAll = true;
      else h.superpages.add(superpageKey(lo, hi, level));
    }
    const u = (pLo & 0x10) !== 0;
    if (priv === PRV_U ? !u : u && (acc === ACC_EXEC || !sum)) fault(h, acc, true, lo, hi);
    const ok =
      acc === ACC_READ
        ? (pLo & 2) !== 0 || (mxr && (pLo & 8) !== 0)
        : acc === ACC_WRITE
          ? (pLo & 4) !== 0
          : (pLo & 8) !== 0;
    if (!ok) fault(h, acc, true, lo, hi);
    const need = acc === ACC_WRITE ? 0xc0 : 0x40;
    if ((pLo & need) !== need) {
      pLo |= need;
      if (!h.pmp.check(pteAddr, 8, PRV_S, ACC_WRITE)) fault(h, acc, false, lo, hi);
      if (h.mem.store(pteAddr, 4, pLo, 0, h.attrs) !== MEMTX_OK) fault(h, acc, false, lo, hi);
    }
    let offset: number;
    if (level === 0) offset = lo & 0xfff;
    else if (level === 1) offset = lo & 0x1fffff;
    else if (level === 2) offset = lo & 0x3fffffff;
    else offset = (hi & 0x7f) * TWO32 + (lo >>> 0);
    return ppn * 4096 + offset;
  }
  return fault(h, acc, true, lo, hi);
}

/** Fill the TLB of kind acc for the page of (lo, hi) -> pa if it is cacheable RAM. */
export function fill(h: Hart, lo: number, hi: number, pa: number, acc: number): boolean {
  if (!h.lastCacheable) return false;
  if (h.debug !== null && acc !== ACC_EXEC) return false;
  const page = pa - (pa % 4096);
  const v = ramWindow(h, page, 4096, acc === ACC_WRITE);
  if (v === null) return false;
  const at = h.ramAt;
  // Pages never straddle a window (RAM blocks are page aligned in their buffers), so page offsets fit int32.
  if (at - v.base + 4096 > v.dv.byteLength) return false;
  const off = at - v.base;
  const idx = (lo >>> 12) & TLB_MASK;
  if (acc === ACC_WRITE || acc === ACC_READ) {
    const rec = acc === ACC_WRITE ? h.wTlb : h.rTlb;
    const k = idx << 2;
    rec[k] = (lo & -4096) | h.tlbTag | (h.rcInState ? 0 : TAG_NOT_IN_MEMORY);
    rec[k + 1] = hi;
    rec[k + 2] = h.rcInState ? at : -1;
    if (acc === ACC_WRITE) {
      h.wOff[idx] = off;
      h.wDv[idx] = v.dv;
      h.wF64[idx] = v.f64;
    } else {
      h.rOff[idx] = off;
      h.rDv[idx] = v.dv;
      h.rF64[idx] = v.f64;
    }
  } else {
    h.xTagLo[idx] = (lo >>> 12) | h.tlbVpnTag;
    h.xTagHi[idx] = hi;
    h.xOff[idx] = off;
    h.xDv[idx] = v.dv;
    h.xPa[idx] = page;
    h.xAbs[idx] = h.rcInState ? at : -1;
    h.xKinds[idx] = -1;
    h.fetchBase = hi * TWO32 + ((lo & ~0xfff) >>> 0);
    h.fetchOff = off;
    h.fetchDv = v.dv;
    h.fetchPa = page;
  }
  return true;
}

/** Make pc's page the fetch page if the instruction TLB has it (no walk, never faults). */
export function fetchPageCached(h: Hart, pc: number): boolean {
  const lo = pc | 0;
  const hi = Math.floor(pc / TWO32) | 0;
  const vpn = lo >>> 12;
  const idx = vpn & TLB_MASK;
  if (h.xTagLo[idx] !== (vpn | h.tlbVpnTag) || h.xTagHi[idx] !== hi) return false;
  h.fetchBase = hi * TWO32 + ((lo & ~0xfff) >>> 0);
  h.fetchOff = h.xOff[idx]!;
  h.fetchDv = h.xDv[idx]!;
  h.fetchPa = h.xPa[idx]!;
  return true;
}

/**
 * Fetch the (possibly compressed) instruction at h.pc when it is not in the current fetch
 * page. The pc is read from the hart, not passed: a call taking it as an argument makes V8
 * box the interpreter's pc (a double above 2^30) on every instruction (interp.ts).
 */
export function fetchSlow(h: Hart): number {
  const pc = h.pc;
  const lo = pc | 0;
  const hi = Math.floor(pc / TWO32) | 0;
  const vpn = lo >>> 12;
  const idx = vpn & TLB_MASK;
  const po = lo & 0xfff;
  if (h.xTagLo[idx] === (vpn | h.tlbVpnTag) && h.xTagHi[idx] === hi && po <= 4092) {
    h.fetchBase = hi * TWO32 + ((lo & ~0xfff) >>> 0);
    h.fetchOff = h.xOff[idx]!;
    h.fetchDv = h.xDv[idx]!;
    h.fetchPa = h.xPa[idx]!;
    return h.fetchDv.getInt32(h.fetchOff + po, true);
  }
  const pa = translate(h, lo, hi, ACC_EXEC, 2);
  if (h.mem.epoch !== h.epoch) flushTlb(h);
  let low: number;
  if (fill(h, lo, hi, pa, ACC_EXEC)) {
    low = h.fetchDv.getUint16(h.fetchOff + (lo & 0xfff), true);
  } else {
    if (h.mem.load(pa, 2, h.attrs) !== MEMTX_OK) fault(h, ACC_EXEC, false, lo, hi);
    low = h.mem.valLo & 0xffff;
  }
  if ((low & 3) !== 3) return low;
  // A 32-bit instruction: its upper half may sit on the next page.
  const s2 = (lo >>> 0) + 2;
  const lo2 = s2 | 0;
  const hi2 = (hi + (s2 > 0xffffffff ? 1 : 0)) | 0;
  let pa2: number;
  if ((lo2 & 0xfff) !== 0) pa2 = pa + 2;
  else pa2 = translate(h, lo2, hi2, ACC_EXEC, 2);
  if (h.mem.load(pa2, 2, h.attrs) !== MEMTX_OK) fault(h, ACC_EXEC, false, lo2, hi2);
  return (low | (h.mem.valLo << 16)) | 0;
}

/** Load of 1 << (f3 & 3) bytes at (lo, hi), extended per f3, into tLo/tHi. */
export function loadSlow(h: Hart, lo: number, hi: number, f3: number): void {
  const size = LOAD_SIZE[f3]!;
  loadRaw(h, lo, hi, size);
  let vlo = h.tLo;
  let vhi = h.tHi;
  switch (f3) {
    case 0:
      vlo = (vlo << 24) >> 24;
      vhi = vlo >> 31;
      break;
    case 1:
      vlo = (vlo << 16) >> 16;
      vhi = vlo >> 31;
      break;
    case 2:
      vhi = vlo >> 31;
      break;
    case 3:
      break;
    default:
      vhi = 0;
      break;
  }
  h.tLo = vlo;
  h.tHi = vhi;
}

/** Raw little-endian load into tLo/tHi (unextended); handles page-crossing and MMIO. */
export function loadRaw(h: Hart, lo: number, hi: number, size: number): void {
  if ((lo & 0xfff) + size > 4096) {
    // Crosses a page: byte by byte (misaligned accesses are emulated, as QEMU does).
    let vlo = 0;
    let vhi = 0;
    for (let i = size - 1; i >= 0; i--) {
      const s = (lo >>> 0) + i;
      loadRaw(h, s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, 1);
      const b = h.tLo & 0xff;
      if (i >= 4) vhi |= b << (8 * (i - 4));
      else vlo |= b << (8 * i);
    }
    h.tLo = vlo;
    h.tHi = vhi;
    return;
  }
  const vpn = lo >>> 12;
  const ii = vpn & TLB_MASK;
  let pa: number;
  let ram = dataTlbHit(h, h.rTlb, ii, lo, hi);
  if (ram) pa = 0;
  else if (h.rioTagLo[ii] === (vpn | h.tlbVpnTag) && h.rioTagHi[ii] === hi) pa = h.rioPa[ii]! + (lo & 0xfff);
  else {
    pa = translate(h, lo, hi, ACC_READ, size);
    ram = fill(h, lo, hi, pa, ACC_READ);
    if (!ram && h.lastCacheable) {
      h.rioTagLo[ii] = vpn | h.tlbVpnTag;
      h.rioTagHi[ii] = hi;
      h.rioPa[ii] = pa - (lo & 0xfff);
    }
  }
  if (ram) {
    const dv = h.rDv[ii]!;
    const a = h.rOff[ii]! + (lo & 0xfff);
    if (size === 8 && (a & 7) === 0) {
      // One 8-byte access: single-copy atomic against harts in other workers.
      CV[0] = h.rF64[ii]![a >> 3]!;
      h.tLo = CI[0]!;
      h.tHi = CI[1]!;
      return;
    }
    h.tLo = size === 1 ? dv.getUint8(a) : size === 2 ? dv.getUint16(a, true) : dv.getInt32(a, true);
    h.tHi = size === 8 ? dv.getInt32(a + 4, true) : 0;
    return;
  }
  const r = h.mem.load(pa, size, h.attrs);
  if (h.mem.epoch !== h.epoch) flushTlb(h);
  if (r !== MEMTX_OK) fault(h, ACC_READ, false, lo, hi);
  h.tLo = h.mem.valLo | 0;
  h.tHi = size === 8 ? h.mem.valHi | 0 : 0;
}

/** Store of `size` bytes; handles page-crossing and MMIO. */
export function storeSlow(h: Hart, lo: number, hi: number, size: number, vlo: number, vhi: number): void {
  if ((lo & 0xfff) + size > 4096) {
    // Check every byte's translation first so a fault leaves memory untouched.
    for (let i = 0; i < size; i++) {
      const s = (lo >>> 0) + i;
      translate(h, s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, ACC_WRITE, 1);
    }
    for (let i = 0; i < size; i++) {
      const s = (lo >>> 0) + i;
      const b = i >= 4 ? (vhi >>> (8 * (i - 4))) & 0xff : (vlo >>> (8 * i)) & 0xff;
      storeSlow(h, s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, 1, b, 0);
    }
    return;
  }
  const vpn = lo >>> 12;
  const ii = vpn & TLB_MASK;
  let pa: number;
  let ram = dataTlbHit(h, h.wTlb, ii, lo, hi);
  let code = false;
  if (ram) pa = 0;
  else if (h.wioTagLo[ii] === (vpn | h.tlbVpnTag) && h.wioTagHi[ii] === hi) pa = h.wioPa[ii]! + (lo & 0xfff);
  else {
    pa = translate(h, lo, hi, ACC_WRITE, size);
    // A page some hart translated code from never enters a store TLB: every store to it
    // goes through here and invalidates the translations (also in other workers). Only RAM
    // holds such bytes: CodeSync's slots are physical pages modulo CODE_SLOTS, so a device's
    // page shares one with a RAM page (the UART at 0x10000000 with 0x80000000's), and a store
    // to the device would otherwise count as a store to code — every console byte ending the
    // run loop and staling the jump cache.
    code = h.codeSync.isCode(pa) && ramWindow(h, pa, size, true) !== null;
    ram = !code && fill(h, lo, hi, pa, ACC_WRITE);
    if (!ram && !code && h.lastCacheable) {
      h.wioTagLo[ii] = vpn | h.tlbVpnTag;
      h.wioTagHi[ii] = hi;
      h.wioPa[ii] = pa - (lo & 0xfff);
    }
  }
  if (ram) {
    const dv = h.wDv[ii]!;
    const a = h.wOff[ii]! + (lo & 0xfff);
    if (size === 1) dv.setUint8(a, vlo & 0xff);
    else if (size === 2) dv.setUint16(a, vlo & 0xffff, true);
    else if (size === 8 && (a & 7) === 0) {
      CI[0] = vlo;
      CI[1] = vhi;
      h.wF64[ii]![a >> 3] = CV[0]!;
    } else {
      dv.setInt32(a, vlo, true);
      if (size === 8) dv.setInt32(a + 4, vhi, true);
    }
    return;
  }
  const r = h.mem.store(pa, size, vlo >>> 0, vhi >>> 0, h.attrs);
  if (h.mem.epoch !== h.epoch) flushTlb(h);
  if (r !== MEMTX_OK) fault(h, ACC_WRITE, false, lo, hi);
  if (code) {
    h.codeSync.written(pa);
    // Leave the run loop so translations from this page are checked before the next block.
    h.exitRequest = true;
  }
}
