/**
 * A disassembler for what the hart implements, in the style of
 * `objdump -M no-aliases,numeric` (registers as x0..x31 / f0..f31, CSRs by
 * number). It doubles as the reference decoder: `decodeValid` says whether
 * the hart accepts an encoding (anything else raises illegal instruction),
 * and the tests check both against riscv64-unknown-elf-objdump.
 */
import { expandCompressed } from './rvc.js';
import { ZB_NAMES, ZB_R, ZB_UNARY, zbForm, zbKind } from './bitmanip.js';

const x = (r: number): string => `x${r}`;
const f = (r: number): string => `f${r}`;
const hex = (v: number): string => (v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);

const LOADS = ['lb', 'lh', 'lw', 'ld', 'lbu', 'lhu', 'lwu'];
const STORES = ['sb', 'sh', 'sw', 'sd'];
const BRANCH: Record<number, string> = { 0: 'beq', 1: 'bne', 4: 'blt', 5: 'bge', 6: 'bltu', 7: 'bgeu' };
const OPIMM = ['addi', 'slli', 'slti', 'sltiu', 'xori', 'sr?i', 'ori', 'andi'];
const OP = ['add', 'sll', 'slt', 'sltu', 'xor', 'srl', 'or', 'and'];
const MULDIV = ['mul', 'mulh', 'mulhsu', 'mulhu', 'div', 'divu', 'rem', 'remu'];
const AMO: Record<number, string> = {
  0: 'amoadd', 1: 'amoswap', 2: 'lr', 3: 'sc', 4: 'amoxor', 0xc: 'amoand', 8: 'amoor',
  0x10: 'amomin', 0x14: 'amomax', 0x18: 'amominu', 0x1c: 'amomaxu',
};
const RM = ['rne', 'rtz', 'rdn', 'rup', 'rmm', '', '', 'dyn'];

export interface Decoded {
  /** Mnemonic without suffix operands, e.g. `addi`, `amoadd.w.aqrl`, `c.addi` for compressed forms' expansion. */
  mnemonic: string;
  /** The objdump-style text (numeric registers). */
  text: string;
}

/** Decode a 32-bit instruction (or a 16-bit parcel via its expansion); null if the hart rejects it. */
export function decode(insn: number): Decoded | null {
  if ((insn & 3) !== 3) {
    const e = expandCompressed(insn & 0xffff);
    return e === 0 ? null : decode32(e);
  }
  return decode32(insn);
}

export function decodeValid(insn: number): boolean {
  return decode(insn) !== null;
}

export function disassemble(insn: number): string {
  const d = decode(insn);
  return d === null ? 'illegal' : d.text;
}

function mk(mnemonic: string, ops: string): Decoded {
  return { mnemonic, text: ops ? `${mnemonic}\t${ops}` : mnemonic };
}

function decode32(insn: number): Decoded | null {
  const op = insn & 0x7f;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  const immI = insn >> 20;
  const immS = ((insn >> 25) << 5) | ((insn >> 7) & 31);
  const zb = zbKind(insn);
  if (zb >= 0) {
    const form = zbForm(zb);
    const ops = form === ZB_R ? `${x(rd)},${x(rs1)},${x(rs2)}` : form === ZB_UNARY ? `${x(rd)},${x(rs1)}` : `${x(rd)},${x(rs1)},${hex((insn >>> 20) & 63)}`;
    return mk(ZB_NAMES[zb]!, ops);
  }
  switch (op) {
    case 0x37:
      return mk('lui', `${x(rd)},${hex((insn >>> 12) & 0xfffff)}`);
    case 0x17:
      return mk('auipc', `${x(rd)},${hex((insn >>> 12) & 0xfffff)}`);
    case 0x6f: {
      const imm = ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
      return mk('jal', `${x(rd)},${hex(imm)}`);
    }
    case 0x67:
      return f3 === 0 ? mk('jalr', `${x(rd)},${immI}(${x(rs1)})`) : null;
    case 0x63: {
      const m = BRANCH[f3];
      if (m === undefined) return null;
      const imm = ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
      return mk(m, `${x(rs1)},${x(rs2)},${hex(imm)}`);
    }
    case 0x03:
      return f3 === 7 ? null : mk(LOADS[f3]!, `${x(rd)},${immI}(${x(rs1)})`);
    case 0x23:
      return f3 > 3 ? null : mk(STORES[f3]!, `${x(rs2)},${immS}(${x(rs1)})`);
    case 0x13: {
      if (f3 === 1) return insn >>> 26 === 0 ? mk('slli', `${x(rd)},${x(rs1)},${hex(immI & 63)}`) : null;
      if (f3 === 5) {
        const top = insn >>> 26;
        if (top === 0) return mk('srli', `${x(rd)},${x(rs1)},${hex(immI & 63)}`);
        if (top === 0x10) return mk('srai', `${x(rd)},${x(rs1)},${hex(immI & 63)}`);
        return null;
      }
      return mk(OPIMM[f3]!, `${x(rd)},${x(rs1)},${immI}`);
    }
    case 0x1b: {
      if (f3 === 0) return mk('addiw', `${x(rd)},${x(rs1)},${immI}`);
      if (f3 === 1 && f7 === 0) return mk('slliw', `${x(rd)},${x(rs1)},${hex(rs2)}`);
      if (f3 === 5 && f7 === 0) return mk('srliw', `${x(rd)},${x(rs1)},${hex(rs2)}`);
      if (f3 === 5 && f7 === 0x20) return mk('sraiw', `${x(rd)},${x(rs1)},${hex(rs2)}`);
      return null;
    }
    case 0x33: {
      const ops = `${x(rd)},${x(rs1)},${x(rs2)}`;
      if (f7 === 0) return mk(OP[f3]!, ops);
      if (f7 === 1) return mk(MULDIV[f3]!, ops);
      if (f7 === 0x20 && f3 === 0) return mk('sub', ops);
      if (f7 === 0x20 && f3 === 5) return mk('sra', ops);
      return null;
    }
    case 0x3b: {
      const ops = `${x(rd)},${x(rs1)},${x(rs2)}`;
      if (f7 === 0) return f3 === 0 ? mk('addw', ops) : f3 === 1 ? mk('sllw', ops) : f3 === 5 ? mk('srlw', ops) : null;
      if (f7 === 0x20) return f3 === 0 ? mk('subw', ops) : f3 === 5 ? mk('sraw', ops) : null;
      if (f7 === 1) return f3 === 0 ? mk('mulw', ops) : f3 >= 4 ? mk(MULDIV[f3]! + 'w', ops) : null;
      return null;
    }
    case 0x0f:
      if (f3 === 0) return mk('fence', '');
      if (f3 === 1) return mk('fence.i', '');
      return null;
    case 0x73: {
      if (f3 === 0) {
        switch (insn) {
          case 0x00000073: return mk('ecall', '');
          case 0x00100073: return mk('ebreak', '');
          case 0x30200073: return mk('mret', '');
          case 0x10200073: return mk('sret', '');
          case 0x10500073: return mk('wfi', '');
          default:
            if ((insn & 0xfe007fff) === 0x12000073) return mk('sfence.vma', `${x(rs1)},${x(rs2)}`);
            return null;
        }
      }
      if (f3 === 4) return null;
      const names = ['', 'csrrw', 'csrrs', 'csrrc', '', 'csrrwi', 'csrrsi', 'csrrci'];
      const csr = insn >>> 20;
      return mk(names[f3]!, `${x(rd)},${hex(csr)},${f3 >= 5 ? String(rs1) : x(rs1)}`);
    }
    case 0x2f: {
      if (f3 !== 2 && f3 !== 3) return null;
      const f5 = insn >>> 27;
      const m = AMO[f5];
      if (m === undefined) return null;
      if (f5 === 2 && rs2 !== 0) return null;
      const aq = (insn >> 26) & 1;
      const rl = (insn >> 25) & 1;
      const suffix = (aq ? '.aq' : '') + (rl ? '.rl' : '');
      const name = `${m}.${f3 === 2 ? 'w' : 'd'}${suffix === '.aq.rl' ? '.aqrl' : suffix}`;
      return mk(name, f5 === 2 ? `${x(rd)},(${x(rs1)})` : `${x(rd)},${x(rs2)},(${x(rs1)})`);
    }
    case 0x07:
    case 0x27: {
      if (f3 !== 2 && f3 !== 3) return null;
      const name = (op === 0x07 ? 'fl' : 'fs') + (f3 === 2 ? 'w' : 'd');
      return op === 0x07 ? mk(name, `${f(rd)},${immI}(${x(rs1)})`) : mk(name, `${f(rs2)},${immS}(${x(rs1)})`);
    }
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f: {
      const fmt = (insn >>> 25) & 3;
      if (fmt > 1 || f3 === 5 || f3 === 6) return null;
      const base = op === 0x43 ? 'fmadd' : op === 0x47 ? 'fmsub' : op === 0x4b ? 'fnmsub' : 'fnmadd';
      return mk(`${base}.${fmt ? 'd' : 's'}`, `${f(rd)},${f(rs1)},${f(rs2)},${f(insn >>> 27)},${RM[f3]}`);
    }
    case 0x53:
      return decodeOpFp(insn, rd, rs1, rs2, f3);
    default:
      return null;
  }
}

function decodeOpFp(insn: number, rd: number, rs1: number, rs2: number, f3: number): Decoded | null {
  const fmt = (insn >>> 25) & 3;
  if (fmt > 1) return null;
  const t = fmt ? 'd' : 's';
  const f5 = insn >>> 27;
  const rmOk = f3 !== 5 && f3 !== 6;
  switch (f5) {
    case 0:
    case 1:
    case 2:
    case 3: {
      if (!rmOk) return null;
      const n = ['fadd', 'fsub', 'fmul', 'fdiv'][f5]!;
      return mk(`${n}.${t}`, `${f(rd)},${f(rs1)},${f(rs2)},${RM[f3]}`);
    }
    case 0xb:
      return rmOk && rs2 === 0 ? mk(`fsqrt.${t}`, `${f(rd)},${f(rs1)},${RM[f3]}`) : null;
    case 4:
      return f3 <= 2 ? mk(`${['fsgnj', 'fsgnjn', 'fsgnjx'][f3]}.${t}`, `${f(rd)},${f(rs1)},${f(rs2)}`) : null;
    case 5:
      return f3 <= 1 ? mk(`${f3 ? 'fmax' : 'fmin'}.${t}`, `${f(rd)},${f(rs1)},${f(rs2)}`) : null;
    case 8:
      if (!rmOk) return null;
      if (fmt === 1 && rs2 === 0) return mk('fcvt.d.s', `${f(rd)},${f(rs1)},${RM[f3]}`);
      if (fmt === 0 && rs2 === 1) return mk('fcvt.s.d', `${f(rd)},${f(rs1)},${RM[f3]}`);
      return null;
    case 0x14:
      return f3 <= 2 ? mk(`${['fle', 'flt', 'feq'][f3]}.${t}`, `x${rd},${f(rs1)},${f(rs2)}`) : null;
    case 0x18:
      if (!rmOk || rs2 > 3) return null;
      return mk(`fcvt.${['w', 'wu', 'l', 'lu'][rs2]}.${t}`, `x${rd},${f(rs1)},${RM[f3]}`);
    case 0x1a:
      if (!rmOk || rs2 > 3) return null;
      return mk(`fcvt.${t}.${['w', 'wu', 'l', 'lu'][rs2]}`, `${f(rd)},x${rs1},${RM[f3]}`);
    case 0x1c:
      if (rs2 !== 0) return null;
      if (f3 === 0) return mk(fmt ? 'fmv.x.d' : 'fmv.x.w', `x${rd},${f(rs1)}`);
      if (f3 === 1) return mk(`fclass.${t}`, `x${rd},${f(rs1)}`);
      return null;
    case 0x1e:
      return rs2 === 0 && f3 === 0 ? mk(fmt ? 'fmv.d.x' : 'fmv.w.x', `${f(rd)},x${rs1}`) : null;
    default:
      return null;
  }
}
