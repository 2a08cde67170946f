/**
 * Architected bit values of the s390 channel subsystem (z/Architecture
 * Principles of Operation, chapters 13-16), as small integers. Fields are kept
 * unpacked in the model (fc, ac, sc, ...) and packed only when a control block
 * is stored into or fetched from guest memory (schib.ts).
 */

/** SCSW function control (word 0 bits 17-19). */
export const FC_START = 0x4;
export const FC_HALT = 0x2;
export const FC_CLEAR = 0x1;

/** SCSW activity control (word 0 bits 20-26). */
export const AC_RESUME_PEND = 0x40;
export const AC_START_PEND = 0x20;
export const AC_HALT_PEND = 0x10;
export const AC_CLEAR_PEND = 0x08;
export const AC_SCH_ACTIVE = 0x04;
export const AC_DEV_ACTIVE = 0x02;
export const AC_SUSPENDED = 0x01;

/** SCSW status control (word 0 bits 27-31). */
export const SC_ALERT = 0x10;
export const SC_INTERMEDIATE = 0x08;
export const SC_PRIMARY = 0x04;
export const SC_SECONDARY = 0x02;
export const SC_STATUS_PEND = 0x01;

/** Device status (SCSW word 2 bits 0-7). */
export const DS_ATTENTION = 0x80;
export const DS_STATUS_MODIFIER = 0x40;
export const DS_CU_END = 0x20;
export const DS_BUSY = 0x10;
export const DS_CHANNEL_END = 0x08;
export const DS_DEVICE_END = 0x04;
export const DS_UNIT_CHECK = 0x02;
export const DS_UNIT_EXCEPTION = 0x01;

/** Subchannel status (SCSW word 2 bits 8-15). */
export const CS_PCI = 0x80;
export const CS_INCORRECT_LENGTH = 0x40;
export const CS_PROGRAM_CHECK = 0x20;
export const CS_PROTECTION_CHECK = 0x10;
export const CS_CHANNEL_DATA_CHECK = 0x08;
export const CS_CHANNEL_CONTROL_CHECK = 0x04;
export const CS_INTERFACE_CONTROL_CHECK = 0x02;
export const CS_CHAINING_CHECK = 0x01;

/** CCW flags (format-0 byte 4, format-1 byte 1). */
export const CCW_FLAG_CD = 0x80;
export const CCW_FLAG_CC = 0x40;
export const CCW_FLAG_SLI = 0x20;
export const CCW_FLAG_SKIP = 0x10;
export const CCW_FLAG_PCI = 0x08;
export const CCW_FLAG_IDA = 0x04;
export const CCW_FLAG_SUSPEND = 0x02;
export const CCW_FLAG_MIDA = 0x01;

/** Command codes with architected meaning to the channel (the rest is device-defined). */
export const CCW_CMD_TIC = 0x08;
export const CCW_CMD_NOOP = 0x03;
export const CCW_CMD_SENSE = 0x04;

/** Condition code set by an I/O instruction. */
export type Cc = 0 | 1 | 2 | 3;

/** Program-interruption codes the I/O instructions can raise. */
export const PGM_ADDRESSING = 0x05;
export const PGM_SPECIFICATION = 0x06;
export const PGM_OPERAND = 0x15;

export type ProgramException = 'addressing' | 'specification' | 'operand';

export function programInterruptionCode(e: ProgramException): number {
  switch (e) {
    case 'addressing':
      return PGM_ADDRESSING;
    case 'specification':
      return PGM_SPECIFICATION;
    case 'operand':
      return PGM_OPERAND;
  }
}

/**
 * Outcome of a guest I/O instruction: a condition code, or a program
 * exception (the instruction is suppressed and nothing in the subchannel
 * changes). Guest faults never surface as JS exceptions.
 */
export type IoInstResult = { readonly kind: 'cc'; readonly cc: Cc } | { readonly kind: 'exception'; readonly exception: ProgramException; readonly code: number };

export function ccResult(cc: Cc): IoInstResult {
  return CC_RESULTS[cc];
}

const CC_RESULTS: readonly IoInstResult[] = [0, 1, 2, 3].map((cc) => Object.freeze({ kind: 'cc' as const, cc: cc as Cc }));

export function exceptionResult(e: ProgramException): IoInstResult {
  return Object.freeze({ kind: 'exception', exception: e, code: programInterruptionCode(e) });
}

export function fcName(fc: number): string {
  const parts: string[] = [];
  if (fc & FC_START) parts.push('start');
  if (fc & FC_HALT) parts.push('halt');
  if (fc & FC_CLEAR) parts.push('clear');
  return parts.length ? parts.join('+') : 'none';
}
