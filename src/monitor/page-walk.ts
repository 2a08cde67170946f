/**
 * Guest-virtual to guest-physical translation for the monitor's `x` (QEMU's
 * get_phys_page_debug): the hart's satp and privilege decide; M-mode and
 * Bare translate 1:1. Reads page-table entries through a caller-supplied
 * physical reader, sets no A/D bits and raises nothing; an invalid mapping
 * is null.
 */
import type { HartState } from '../machine/hart-state.js';

const PRV_M = 3;
const MODES: Record<number, number> = { 8: 3, 9: 4, 10: 5 }; // Sv39, Sv48, Sv57 levels

export function translateDebug(state: HartState, va: bigint, readPte: (pa: bigint) => bigint | null): bigint | null {
  const satp = state.csr.satp ?? 0n;
  const mode = Number(satp >> 60n);
  // MPRV is ignored: the monitor looks as the hart executes, not as it loads.
  if (state.priv === PRV_M || mode === 0) return va;
  const levels = MODES[mode];
  if (levels === undefined) return null;
  const vaBits = 12 + 9 * levels;
  // The address must be sign-extended from bit vaBits-1.
  const top = va >> BigInt(vaBits - 1);
  if (top !== 0n && top !== (1n << BigInt(64 - vaBits + 1)) - 1n) return null;
  let table = (satp & ((1n << 44n) - 1n)) << 12n;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = (va >> BigInt(12 + 9 * level)) & 0x1ffn;
    const pte = readPte(table + idx * 8n);
    if (pte === null || (pte & 1n) === 0n) return null;
    const r = (pte >> 1n) & 1n;
    const x = (pte >> 3n) & 1n;
    const ppn = (pte >> 10n) & ((1n << 44n) - 1n);
    if (r === 0n && x === 0n) {
      if (((pte >> 2n) & 1n) !== 0n) return null; // W without R is reserved
      table = ppn << 12n;
      continue;
    }
    // A leaf: superpages keep the low VPN bits of the address.
    const pageBits = BigInt(12 + 9 * level);
    if (level > 0 && (ppn & ((1n << BigInt(9 * level)) - 1n)) !== 0n) return null; // misaligned superpage
    return ((ppn << 12n) & ~((1n << pageBits) - 1n)) | (va & ((1n << pageBits) - 1n));
  }
  return null;
}
