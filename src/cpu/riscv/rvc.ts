/**
 * The C extension as a table: every 16-bit parcel maps to the 32-bit
 * instruction it expands to (0 when the parcel is illegal or reserved).
 * Executing a compressed instruction is then one table load plus the normal
 * 32-bit path, and the interpreter needs no separate compressed decoder.
 * Hints (c.nop with an immediate, rd = x0 forms, c.slli with shamt 0) expand
 * to instructions that write x0, so they execute as no-ops.
 */

function rType(op: number, rd: number, f3: number, rs1: number, rs2: number, f7: number): number {
  return ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) | 0;
}
function iType(op: number, rd: number, f3: number, rs1: number, imm: number): number {
  return (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) | 0;
}
function sType(op: number, f3: number, rs1: number, rs2: number, imm: number): number {
  return ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | op) | 0;
}
function bType(f3: number, rs1: number, rs2: number, imm: number): number {
  return (
    (((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) |
    (((imm >> 11) & 1) << 7) |
    0x63
  );
}
function jType(rd: number, imm: number): number {
  return (
    (((imm >> 20) & 1) << 31) |
    (((imm >> 1) & 0x3ff) << 21) |
    (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f
  );
}

const bit = (h: number, i: number): number => (h >> i) & 1;
const sext = (v: number, bits: number): number => (v << (32 - bits)) >> (32 - bits);

/** Expand one 16-bit parcel (low two bits != 3) to its 32-bit equivalent, or 0 if illegal. */
export function expandCompressed(h: number): number {
  const op = h & 3;
  const f3 = (h >> 13) & 7;
  const rdp = ((h >> 2) & 7) + 8; // rd'/rs2'
  const rs1p = ((h >> 7) & 7) + 8; // rs1'/rd'
  const rd = (h >> 7) & 31;
  const rs2 = (h >> 2) & 31;
  const imm6 = sext((bit(h, 12) << 5) | ((h >> 2) & 31), 6);
  if (op === 0) {
    switch (f3) {
      case 0: {
        const imm = (((h >> 11) & 3) << 4) | (((h >> 7) & 15) << 6) | (bit(h, 6) << 2) | (bit(h, 5) << 3);
        return imm === 0 ? 0 : iType(0x13, rdp, 0, 2, imm); // c.addi4spn
      }
      case 1: return iType(0x07, rdp, 3, rs1p, (((h >> 10) & 7) << 3) | (((h >> 5) & 3) << 6)); // c.fld
      case 2: return iType(0x03, rdp, 2, rs1p, (((h >> 10) & 7) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6)); // c.lw
      case 3: return iType(0x03, rdp, 3, rs1p, (((h >> 10) & 7) << 3) | (((h >> 5) & 3) << 6)); // c.ld
      case 4: return 0; // reserved
      case 5: return sType(0x27, 3, rs1p, rdp, (((h >> 10) & 7) << 3) | (((h >> 5) & 3) << 6)); // c.fsd
      case 6: return sType(0x23, 2, rs1p, rdp, (((h >> 10) & 7) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6)); // c.sw
      default: return sType(0x23, 3, rs1p, rdp, (((h >> 10) & 7) << 3) | (((h >> 5) & 3) << 6)); // c.sd
    }
  }
  if (op === 1) {
    switch (f3) {
      case 0: return iType(0x13, rd, 0, rd, imm6); // c.addi / c.nop
      case 1: return rd === 0 ? 0 : iType(0x1b, rd, 0, rd, imm6); // c.addiw
      case 2: return iType(0x13, rd, 0, 0, imm6); // c.li
      case 3: {
        if (rd === 2) {
          const imm = sext(
            (bit(h, 12) << 9) | (bit(h, 6) << 4) | (bit(h, 5) << 6) | (((h >> 3) & 3) << 7) | (bit(h, 2) << 5),
            10,
          );
          return imm === 0 ? 0 : iType(0x13, 2, 0, 2, imm); // c.addi16sp
        }
        if (imm6 === 0) return 0;
        return (((imm6 & 0xfffff) << 12) | (rd << 7) | 0x37) | 0; // c.lui
      }
      case 4: {
        const f2 = (h >> 10) & 3;
        const shamt = (bit(h, 12) << 5) | ((h >> 2) & 31);
        if (f2 === 0) return iType(0x13, rs1p, 5, rs1p, shamt); // c.srli
        if (f2 === 1) return iType(0x13, rs1p, 5, rs1p, shamt | 0x400); // c.srai
        if (f2 === 2) return iType(0x13, rs1p, 7, rs1p, imm6); // c.andi
        const sub = (h >> 5) & 3;
        if (bit(h, 12) === 0) {
          if (sub === 0) return rType(0x33, rs1p, 0, rs1p, rdp, 0x20); // c.sub
          if (sub === 1) return rType(0x33, rs1p, 4, rs1p, rdp, 0); // c.xor
          if (sub === 2) return rType(0x33, rs1p, 6, rs1p, rdp, 0); // c.or
          return rType(0x33, rs1p, 7, rs1p, rdp, 0); // c.and
        }
        if (sub === 0) return rType(0x3b, rs1p, 0, rs1p, rdp, 0x20); // c.subw
        if (sub === 1) return rType(0x3b, rs1p, 0, rs1p, rdp, 0); // c.addw
        return 0;
      }
      case 5: {
        const imm = sext(
          (bit(h, 12) << 11) |
            (bit(h, 11) << 4) |
            (((h >> 9) & 3) << 8) |
            (bit(h, 8) << 10) |
            (bit(h, 7) << 6) |
            (bit(h, 6) << 7) |
            (((h >> 3) & 7) << 1) |
            (bit(h, 2) << 5),
          12,
        );
        return jType(0, imm); // c.j
      }
      default: {
        const imm = sext(
          (bit(h, 12) << 8) | (((h >> 10) & 3) << 3) | (((h >> 5) & 3) << 6) | (((h >> 3) & 3) << 1) | (bit(h, 2) << 5),
          9,
        );
        return bType(f3 === 6 ? 0 : 1, rs1p, 0, imm); // c.beqz / c.bnez
      }
    }
  }
  if (op === 2) {
    switch (f3) {
      case 0: return iType(0x13, rd, 1, rd, (bit(h, 12) << 5) | ((h >> 2) & 31)); // c.slli
      case 1: return iType(0x07, rd, 3, 2, (bit(h, 12) << 5) | (((h >> 5) & 3) << 3) | (((h >> 2) & 7) << 6)); // c.fldsp
      case 2:
        return rd === 0 ? 0 : iType(0x03, rd, 2, 2, (bit(h, 12) << 5) | (((h >> 4) & 7) << 2) | (((h >> 2) & 3) << 6)); // c.lwsp
      case 3:
        return rd === 0 ? 0 : iType(0x03, rd, 3, 2, (bit(h, 12) << 5) | (((h >> 5) & 3) << 3) | (((h >> 2) & 7) << 6)); // c.ldsp
      case 4:
        if (bit(h, 12) === 0) {
          if (rs2 === 0) return rd === 0 ? 0 : iType(0x67, 0, 0, rd, 0); // c.jr
          return rType(0x33, rd, 0, 0, rs2, 0); // c.mv
        }
        if (rs2 === 0) return rd === 0 ? 0x00100073 : iType(0x67, 1, 0, rd, 0); // c.ebreak / c.jalr
        return rType(0x33, rd, 0, rd, rs2, 0); // c.add
      case 5: return sType(0x27, 3, 2, rs2, (((h >> 10) & 7) << 3) | (((h >> 7) & 7) << 6)); // c.fsdsp
      case 6: return sType(0x23, 2, 2, rs2, (((h >> 9) & 15) << 2) | (((h >> 7) & 3) << 6)); // c.swsp
      default: return sType(0x23, 3, 2, rs2, (((h >> 10) & 7) << 3) | (((h >> 7) & 7) << 6)); // c.sdsp
    }
  }
  return 0;
}

let table: Int32Array | null = null;

/**
 * The 64 Ki-entry expansion table, one per realm; entries are filled on first use by
 * `rvcFill` (expanding all 49,152 parcels up front cost ~20 ms of every start, before V8
 * had optimised the expander). An entry whose low two bits are not 0b11 is not a valid
 * expansion: 0 is an illegal parcel, 1 one not expanded yet — so a reader that tests
 * `(e & 3) !== 3` takes one branch for both.
 */
export function rvcTable(): Int32Array {
  if (table === null) table = new Int32Array(65536).fill(1);
  return table;
}

/** Expand parcel `p` into the table and return it (0: illegal). */
export function rvcFill(t: Int32Array, p: number): number {
  const e = expandCompressed(p);
  t[p] = e;
  return e;
}
