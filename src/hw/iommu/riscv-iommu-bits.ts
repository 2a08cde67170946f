/**
 * Register offsets, field positions and codes of the RISC-V IOMMU
 * (RISC-V IOMMU Architecture Specification 1.0, chapters 2, 3 and 5).
 * 64-bit registers and in-memory doublewords are handled as two 32-bit
 * halves (lo, hi), so every field below is given for the half it lives in.
 */

// ---- registers (byte offsets in the 4 KiB register file) ----
export const REG_CAPABILITIES = 0x00;
export const REG_FCTL = 0x08;
export const REG_DDTP = 0x10;
export const REG_CQB = 0x18;
export const REG_CQH = 0x20;
export const REG_CQT = 0x24;
export const REG_FQB = 0x28;
export const REG_FQH = 0x30;
export const REG_FQT = 0x34;
export const REG_PQB = 0x38;
export const REG_PQH = 0x40;
export const REG_PQT = 0x44;
export const REG_CQCSR = 0x48;
export const REG_FQCSR = 0x4c;
export const REG_PQCSR = 0x50;
export const REG_IPSR = 0x54;
export const REG_ICVEC = 0x2f8;
export const REGS_SIZE = 0x1000;

// ---- capabilities (low half) ----
export const CAP_VERSION_1_0 = 0x10;
export const CAP_SV39 = 1 << 9;
export const CAP_SV48 = 1 << 10;
export const CAP_IGS_WSI = 1 << 28; // IGS = 1: wired interrupts only
/** capabilities high half: PAS (physical address size) in bits 37:32. */
export const CAP_HI_PAS_SHIFT = 0;

// ---- fctl ----
export const FCTL_BE = 1 << 0;
export const FCTL_WSI = 1 << 1;
export const FCTL_GXL = 1 << 2;

// ---- ddtp.iommu_mode ----
export const DDTP_MODE_OFF = 0;
export const DDTP_MODE_BARE = 1;
export const DDTP_MODE_1LVL = 2;
export const DDTP_MODE_2LVL = 3;
export const DDTP_MODE_3LVL = 4;
export const DDTP_BUSY = 1 << 4;

// ---- queue CSRs (cqcsr / fqcsr share the positions) ----
export const QCSR_EN = 1 << 0;
export const QCSR_IE = 1 << 1;
export const QCSR_MF = 1 << 8;
export const CQCSR_CMD_TO = 1 << 9;
export const CQCSR_CMD_ILL = 1 << 10;
export const CQCSR_FENCE_W_IP = 1 << 11;
export const FQCSR_OF = 1 << 9;
export const QCSR_ON = 1 << 16;
export const QCSR_BUSY = 1 << 17;

// ---- ipsr ----
export const IPSR_CIP = 1 << 0;
export const IPSR_FIP = 1 << 1;

// ---- device context (base format: 4 doublewords) ----
export const DC_SIZE = 32;
export const DC_TC_V = 1 << 0;
export const DC_TC_EN_ATS = 1 << 1;
export const DC_TC_EN_PRI = 1 << 2;
export const DC_TC_T2GPA = 1 << 3;
export const DC_TC_DTF = 1 << 4;
export const DC_TC_PDTV = 1 << 5;
export const DC_TC_PRPR = 1 << 6;
export const DC_TC_GADE = 1 << 7;
export const DC_TC_SADE = 1 << 8;
export const DC_TC_DPE = 1 << 9;
export const DC_TC_SBE = 1 << 10;
export const DC_TC_SXL = 1 << 11;
/** tc bits the implementation accepts set (V, DTF); any other set bit is a misconfiguration. */
export const DC_TC_SUPPORTED = DC_TC_V | DC_TC_DTF;

// ---- first-stage modes (iosatp.MODE, bits 63:60) ----
export const ATP_MODE_BARE = 0;
export const ATP_MODE_SV39 = 8;
export const ATP_MODE_SV48 = 9;

// ---- commands: dword0 opcode [6:0], func3 [9:7] ----
export const CMD_IOTINVAL = 1;
export const CMD_IOFENCE = 2;
export const CMD_IODIR = 3;
export const CMD_ATS = 4;
export const IOTINVAL_FUNC_VMA = 0;
export const IOTINVAL_FUNC_GVMA = 1;
export const IOTINVAL_AV = 1 << 10;
/** dword0 high half: PSCV is bit 32, GV bit 33, GSCID bits 59:44. */
export const IOTINVAL_HI_PSCV = 1 << 0;
export const IOTINVAL_HI_GV = 1 << 1;
export const IOFENCE_FUNC_C = 0;
export const IOFENCE_AV = 1 << 10;
export const IOFENCE_WSI = 1 << 11;
export const IOFENCE_PR = 1 << 12;
export const IOFENCE_PW = 1 << 13;
export const IODIR_FUNC_INVAL_DDT = 0;
export const IODIR_FUNC_INVAL_PDT = 1;
/** dword0 high half: DV is bit 33; DID bits 63:40. */
export const IODIR_HI_DV = 1 << 1;

// ---- fault records: 4 doublewords ----
export const FQ_RECORD_SIZE = 32;
export const CQ_ENTRY_SIZE = 16;

/** Fault causes (spec table 11). */
export const CAUSE = {
  readAccessFault: 5,
  writeAccessFault: 7,
  readPageFault: 13,
  writePageFault: 15,
  dmaDisabled: 256,
  ddtLoadFault: 257,
  ddtInvalid: 258,
  ddtMisconfigured: 259,
  ttypBlocked: 260,
} as const;

/** Transaction types (spec table 12). */
export const TTYP_UNTRANSLATED_READ = 2;
export const TTYP_UNTRANSLATED_WRITE = 3;

// ---- first-stage PTE bits ----
export const PTE_V = 1 << 0;
export const PTE_R = 1 << 1;
export const PTE_W = 1 << 2;
export const PTE_X = 1 << 3;
export const PTE_U = 1 << 4;
export const PTE_A = 1 << 6;
export const PTE_D = 1 << 7;

export const TWO32 = 2 ** 32;

/** PPN[53:10] of a doubleword (ddtp, cqb, fqb, non-leaf DDT entries, PTEs) as a byte address, or -1 past 2^53. */
export function ppnField(lo: number, hi: number): number {
  const ppn = (lo >>> 10) + (hi & 0x3fffff) * 2 ** 22;
  return ppn < 2 ** 41 ? ppn * 4096 : -1;
}

/** PPN[43:0] of an ATP doubleword (iosatp, iohgatp) as a byte address, or -1 past 2^53. */
export function atpPpn(lo: number, hi: number): number {
  const ppn = (lo >>> 0) + (hi & 0xfff) * TWO32;
  return ppn < 2 ** 41 ? ppn * 4096 : -1;
}
