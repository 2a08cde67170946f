/**
 * Block translation: guest instructions -> the source of one JS function.
 *
 * A block starts at any instruction and runs straight on through untaken
 * conditional branches (side exits) until a jump, an instruction it does not
 * translate (those stay with the interpreter: SYSTEM, FENCE, AMO, FP, every
 * illegal encoding), a 32-bit instruction that would cross the page end, the
 * page end, or MAX_INSNS. It never crosses a page, so it depends only on the
 * bytes of one physical page: the virtual pc arrives as an argument and
 * link/auipc values are computed from it.
 *
 * The emitted code is the interpreter's semantics statement for statement
 * (registers as int32 halves, the same TLB probes, the same slow paths), so
 * the two engines agree bit for bit. Before any call that may trap it stores
 * the exact pc and step count, which makes exceptions precise; every exit
 * stores them too. A branch or jump back to the block's first instruction
 * becomes a JS loop that re-checks the step budget on every iteration, so a
 * tight guest loop yields to interrupts within one quantum.
 */

/** Longest block, in instructions. */
export const MAX_INSNS = 64;

export interface BlockSource {
  /** Body of `function (pc, end)`. */
  readonly body: string;
  /** Instructions on the longest path through the block (the budget one call may use per iteration). */
  readonly length: number;
}

const TWO32 = 4294967296;

/**
 * Translate the instructions at page offset `off` of the page whose bytes
 * start at `base` in `dv`. Returns null when the first instruction is one the
 * translator leaves to the interpreter.
 */
export function translateBlock(dv: DataView, base: number, off: number, rvc: Int32Array): BlockSource | null {
  const parts: string[] = [];
  let n = 0;
  let rel = 0;
  let loops = false;
  let ended = false;
  while (n < MAX_INSNS && off + rel <= 4094) {
    const low = dv.getUint16(base + off + rel, true);
    let insn: number;
    let ilen: number;
    if ((low & 3) === 3) {
      if (off + rel + 4 > 4096) break;
      insn = dv.getInt32(base + off + rel, true);
      ilen = 4;
    } else {
      insn = rvc[low]!;
      ilen = 2;
      if (insn === 0) break;
    }
    const r = emit(insn, ilen, rel, n, off);
    if (r === null) break;
    parts.push(r.code);
    n++;
    rel += ilen;
    if (r.loops) loops = true;
    if (r.ends) {
      ended = true;
      break;
    }
  }
  if (n === 0) return null;
  if (!ended) parts.push(`h.pc = pc + ${rel}; h.steps = st + ${n}; return;`);
  const code = parts.join('\n');
  const body =
    `let st = h.steps; const fb = h.fetchBase;\n` +
    (loops ? `for (;;) {\n${code.replaceAll('/*LEN*/', String(n))}\n}` : code);
  return { body, length: n };
}

interface Emitted {
  code: string;
  /** The block ends after this instruction. */
  ends: boolean;
  /** It jumps back to the block start. */
  loops: boolean;
}

function ok(code: string, ends = false, loops = false): Emitted {
  return { code, ends, loops };
}

/** Write lo/hi expressions (already evaluated into locals) to rd. */
function wr(rd: number, lo: string, hi: string): string {
  return rd === 0 ? '' : `xlo[${rd}] = ${lo}; xhi[${rd}] = ${hi};`;
}

/** Exit to the dispatcher at pc + target with the steps of instructions 0..k retired. */
function exitTo(target: string, k: number): string {
  return `h.pc = ${target}; h.steps = st + ${k + 1}; return;`;
}

/** Continue at the block start (a loop), or leave if the budget cannot cover another pass. */
function loopBack(k: number): string {
  return `st += ${k + 1}; if (st + /*LEN*/ > end) { h.pc = pc; h.steps = st; return; } continue;`;
}

function shiftLeft(lo: string, hi: string, sh: number): [string, string] {
  if (sh === 0) return [lo, hi];
  if (sh < 32) return [`${lo} << ${sh}`, `(${hi} << ${sh}) | (${lo} >>> ${32 - sh})`];
  return ['0', `${lo} << ${sh - 32}`];
}
function shiftRightLogical(lo: string, hi: string, sh: number): [string, string] {
  if (sh === 0) return [lo, hi];
  if (sh < 32) return [`(${lo} >>> ${sh}) | (${hi} << ${32 - sh})`, `${hi} >>> ${sh}`];
  return [`${hi} >>> ${sh - 32}`, '0'];
}
function shiftRightArith(lo: string, hi: string, sh: number): [string, string] {
  if (sh === 0) return [lo, hi];
  if (sh < 32) return [`(${lo} >>> ${sh}) | (${hi} << ${32 - sh})`, `${hi} >> ${sh}`];
  return [`${hi} >> ${sh - 32}`, `${hi} >> 31`];
}

/**
 * One instruction at block-relative offset `rel`, index `k` in the block.
 * `start` is the block's page offset (for nothing but bounds already checked).
 */
function emit(insn: number, ilen: number, rel: number, k: number, start: number): Emitted | null {
  void start;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const at = `pc + ${rel}`;
  const next = `pc + ${rel + ilen}`;
  switch ((insn >> 2) & 31) {
    case 4: {
      // OP-IMM
      const imm = insn >> 20;
      const iu = imm >>> 0;
      const ih = imm >> 31;
      if (rd === 0) {
        if ((f3 === 1 && insn >>> 26 !== 0) || (f3 === 5 && insn >>> 26 !== 0 && insn >>> 26 !== 0x10)) return null;
        return ok('');
      }
      const a = `xlo[${rs1}]`;
      const b = `xhi[${rs1}]`;
      switch (f3) {
        case 0:
          if (rs1 === 0) return ok(wr(rd, String(imm), String(ih)));
          return ok(`{ const s = (${a} >>> 0) + ${iu}; const hh = (${b} + ${ih} + (s > 4294967295 ? 1 : 0)) | 0; ${wr(rd, 's | 0', 'hh')} }`);
        case 1: {
          if (insn >>> 26 !== 0) return null;
          const [l, h] = shiftLeft('al', 'ah', imm & 63);
          return ok(`{ const al = ${a}; const ah = ${b}; ${wr(rd, l, h)} }`);
        }
        case 2:
          return ok(`{ const ah = ${b}; ${wr(rd, `ah < ${ih} || (ah === ${ih} && ${a} >>> 0 < ${iu}) ? 1 : 0`, '0')} }`);
        case 3: {
          const ihu = ih >>> 0;
          return ok(`{ const ah = ${b} >>> 0; ${wr(rd, `ah < ${ihu} || (ah === ${ihu} && ${a} >>> 0 < ${iu}) ? 1 : 0`, '0')} }`);
        }
        case 4:
          return ok(`{ const al = ${a} ^ ${imm}; const ah = ${b} ^ ${ih}; ${wr(rd, 'al', 'ah')} }`);
        case 5: {
          const top = insn >>> 26;
          const sh = imm & 63;
          let lh: [string, string];
          if (top === 0) lh = shiftRightLogical('al', 'ah', sh);
          else if (top === 0x10) lh = shiftRightArith('al', 'ah', sh);
          else return null;
          return ok(`{ const al = ${a}; const ah = ${b}; ${wr(rd, lh[0], lh[1])} }`);
        }
        case 6:
          return ok(`{ const al = ${a} | ${imm}; const ah = ${b} | ${ih}; ${wr(rd, 'al', 'ah')} }`);
        default:
          return ok(`{ const al = ${a} & ${imm}; const ah = ${b} & ${ih}; ${wr(rd, 'al', 'ah')} }`);
      }
    }
    case 12: {
      // OP
      const f7 = insn >>> 25;
      const load = `const al = xlo[${rs1}]; const ah = xhi[${rs1}]; const bl = xlo[${rs2}]; const bh = xhi[${rs2}];`;
      if (f7 === 1) {
        if (f3 === 0) {
          // mul inline (the interpreter's mulDiv case 0)
          return ok(rd === 0 ? '' : `{ ${load} const l = Math.imul(al, bl); const hh = (mulhu32(al, bl) + Math.imul(al, bh) + Math.imul(ah, bl)) | 0; ${wr(rd, 'l', 'hh')} }`);
        }
        return ok(`{ ${load} mulDiv(h, ${f3}, al, ah, bl, bh); ${wr(rd, 'h.tLo', 'h.tHi')} }`);
      }
      let body: string;
      if (f7 === 0) {
        switch (f3) {
          case 0:
            body = `const s = (al >>> 0) + (bl >>> 0); ${wr(rd, 's | 0', '(ah + bh + (s > 4294967295 ? 1 : 0)) | 0')}`;
            break;
          case 1:
            body = `const sh = bl & 63; let l, hh; if (sh === 0) { l = al; hh = ah; } else if (sh < 32) { hh = (ah << sh) | (al >>> (32 - sh)); l = al << sh; } else { hh = al << (sh - 32); l = 0; } ${wr(rd, 'l', 'hh')}`;
            break;
          case 2:
            body = wr(rd, '(ah < bh || (ah === bh && al >>> 0 < bl >>> 0) ? 1 : 0)', '0');
            break;
          case 3:
            body = wr(rd, '(ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0) ? 1 : 0)', '0');
            break;
          case 4:
            body = wr(rd, 'al ^ bl', 'ah ^ bh');
            break;
          case 5:
            body = `const sh = bl & 63; let l, hh; if (sh === 0) { l = al; hh = ah; } else if (sh < 32) { l = (al >>> sh) | (ah << (32 - sh)); hh = ah >>> sh; } else { l = ah >>> (sh - 32); hh = 0; } ${wr(rd, 'l', 'hh')}`;
            break;
          case 6:
            body = wr(rd, 'al | bl', 'ah | bh');
            break;
          default:
            body = wr(rd, 'al & bl', 'ah & bh');
            break;
        }
      } else if (f7 === 0x20 && f3 === 0) {
        body = wr(rd, '(al - bl) | 0', '(ah - bh - (al >>> 0 < bl >>> 0 ? 1 : 0)) | 0');
      } else if (f7 === 0x20 && f3 === 5) {
        body = `const sh = bl & 63; let l, hh; if (sh === 0) { l = al; hh = ah; } else if (sh < 32) { l = (al >>> sh) | (ah << (32 - sh)); hh = ah >> sh; } else { l = ah >> (sh - 32); hh = ah >> 31; } ${wr(rd, 'l', 'hh')}`;
      } else return null;
      return ok(rd === 0 ? '' : `{ ${load} ${body} }`);
    }
    case 6: {
      // OP-IMM-32
      const a = `xlo[${rs1}]`;
      let v: string;
      if (f3 === 0) v = `(${a} + ${insn >> 20}) | 0`;
      else if (f3 === 1 && insn >>> 25 === 0) v = `${a} << ${(insn >> 20) & 31}`;
      else if (f3 === 5 && insn >>> 25 === 0) v = `${a} >>> ${(insn >> 20) & 31}`;
      else if (f3 === 5 && insn >>> 25 === 0x20) v = `${a} >> ${(insn >> 20) & 31}`;
      else return null;
      return ok(rd === 0 ? '' : `{ const v = ${v}; ${wr(rd, 'v', 'v >> 31')} }`);
    }
    case 14: {
      // OP-32
      const f7 = insn >>> 25;
      let v: string;
      if (f7 === 0 && f3 === 0) v = '(a + b) | 0';
      else if (f7 === 0 && f3 === 1) v = 'a << (b & 31)';
      else if (f7 === 0 && f3 === 5) v = 'a >>> (b & 31)';
      else if (f7 === 0x20 && f3 === 0) v = '(a - b) | 0';
      else if (f7 === 0x20 && f3 === 5) v = 'a >> (b & 31)';
      else if (f7 === 1 && (f3 === 0 || f3 >= 4)) v = `mulDivW(h, ${f3}, a, b, ${insn}, ${ilen})`;
      else return null;
      return ok(rd === 0 ? '' : `{ const a = xlo[${rs1}]; const b = xlo[${rs2}]; const v = ${v}; ${wr(rd, 'v', 'v >> 31')} }`);
    }
    case 13: {
      // LUI
      const v = insn & 0xfffff000;
      return ok(wr(rd, String(v), String(v >> 31)));
    }
    case 5: {
      // AUIPC
      return ok(rd === 0 ? '' : `{ const v = ${at} + ${insn & 0xfffff000}; ${wr(rd, 'v | 0', `Math.floor(v / ${TWO32}) | 0`)} }`);
    }
    case 0: {
      // LOAD
      if (f3 === 7) return null;
      const imm = insn >> 20;
      let fast: string;
      switch (f3) {
        case 0:
          fast = 'vlo = dv.getInt8(a); vhi = vlo >> 31;';
          break;
        case 1:
          fast = 'vlo = dv.getInt16(a, true); vhi = vlo >> 31;';
          break;
        case 2:
          fast = 'vlo = dv.getInt32(a, true); vhi = vlo >> 31;';
          break;
        case 3:
          fast =
            'if ((a & 7) === 0) { CV[0] = rF64[idx][a >> 3]; vlo = CI[0]; vhi = CI[1]; } else { vlo = dv.getInt32(a, true); vhi = dv.getInt32(a + 4, true); }';
          break;
        case 4:
          fast = 'vlo = dv.getUint8(a); vhi = 0;';
          break;
        case 5:
          fast = 'vlo = dv.getUint16(a, true); vhi = 0;';
          break;
        default:
          fast = 'vlo = dv.getInt32(a, true); vhi = 0;';
          break;
      }
      return ok(
        `{ const s = (xlo[${rs1}] >>> 0) + ${imm}; const lo = s | 0; const hi = (xhi[${rs1}] + (s > 4294967295 ? 1 : s < 0 ? -1 : 0)) | 0;
  const vpn = lo >>> 12; const idx = vpn & 1023; const po = lo & 4095; let vlo, vhi;
  if (rTagLo[idx] === vpn && rTagHi[idx] === hi && po <= 4088) { const dv = rDv[idx]; const a = (rOff[idx] + po) | 0; ${fast} }
  else { h.pc = ${at}; h.steps = st + ${k + 1}; loadSlow(h, lo, hi, ${f3}); vlo = h.tLo; vhi = h.tHi;
    if (h.exitRequest || h.fetchBase !== fb) { ${wr(rd, 'vlo', 'vhi')} h.pc = ${next}; return; } }
  ${wr(rd, 'vlo', 'vhi')} }`,
      );
    }
    case 8: {
      // STORE
      if (f3 > 3) return null;
      const imm = ((insn >> 25) << 5) | ((insn >> 7) & 31);
      let fast: string;
      switch (f3) {
        case 0:
          fast = `dv.setInt8(a, xlo[${rs2}]);`;
          break;
        case 1:
          fast = `dv.setInt16(a, xlo[${rs2}], true);`;
          break;
        case 2:
          fast = `dv.setInt32(a, xlo[${rs2}], true);`;
          break;
        default:
          fast = `if ((a & 7) === 0) { CI[0] = xlo[${rs2}]; CI[1] = xhi[${rs2}]; wF64[idx][a >> 3] = CV[0]; } else { dv.setInt32(a, xlo[${rs2}], true); dv.setInt32(a + 4, xhi[${rs2}], true); }`;
          break;
      }
      return ok(
        `{ const s = (xlo[${rs1}] >>> 0) + ${imm}; const lo = s | 0; const hi = (xhi[${rs1}] + (s > 4294967295 ? 1 : s < 0 ? -1 : 0)) | 0;
  const vpn = lo >>> 12; const idx = vpn & 1023; const po = lo & 4095;
  if (wTagLo[idx] === vpn && wTagHi[idx] === hi && po <= 4088) { const dv = wDv[idx]; const a = (wOff[idx] + po) | 0; ${fast} }
  else { h.pc = ${at}; h.steps = st + ${k + 1}; storeSlow(h, lo, hi, ${1 << f3}, xlo[${rs2}], xhi[${rs2}]);
    if (h.exitRequest || h.fetchBase !== fb) { h.pc = ${next}; return; } } }`,
      );
    }
    case 24: {
      // BRANCH
      let cond: string;
      const al = `xlo[${rs1}]`;
      const bl = `xlo[${rs2}]`;
      const ah = `xhi[${rs1}]`;
      const bh = `xhi[${rs2}]`;
      switch (f3) {
        case 0:
          cond = `${al} === ${bl} && ${ah} === ${bh}`;
          break;
        case 1:
          cond = `${al} !== ${bl} || ${ah} !== ${bh}`;
          break;
        case 4:
          cond = `${ah} < ${bh} || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`;
          break;
        case 5:
          cond = `!(${ah} < ${bh} || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0))`;
          break;
        case 6:
          cond = `${ah} >>> 0 < ${bh} >>> 0 || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`;
          break;
        case 7:
          cond = `!(${ah} >>> 0 < ${bh} >>> 0 || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0))`;
          break;
        default:
          return null;
      }
      const imm =
        ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
      const target = rel + imm;
      if (target === 0) return ok(`if (${cond}) { ${loopBack(k)} }`, false, true);
      return ok(`if (${cond}) { ${exitTo(`pc + ${target}`, k)} }`);
    }
    case 27: {
      // JAL
      const imm =
        ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
      const link = rd === 0 ? '' : `{ const v = ${next}; ${wr(rd, 'v | 0', `Math.floor(v / ${TWO32}) | 0`)} }`;
      const target = rel + imm;
      if (target === 0) return ok(`${link} ${loopBack(k)}`, true, true);
      return ok(`${link} ${exitTo(`pc + ${target}`, k)}`, true);
    }
    case 25: {
      // JALR
      if (f3 !== 0) return null;
      const imm = insn >> 20;
      const link = rd === 0 ? '' : `{ const v = ${next}; ${wr(rd, 'v | 0', `Math.floor(v / ${TWO32}) | 0`)} }`;
      return ok(
        `{ const s = (xlo[${rs1}] >>> 0) + ${imm}; const hi = (xhi[${rs1}] + (s > 4294967295 ? 1 : s < 0 ? -1 : 0)) | 0; const t = hi * ${TWO32} + ((s & ~1) >>> 0); ${link} ${exitTo('t', k)} }`,
        true,
      );
    }
    default:
      return null;
  }
}
