/**
 * Typed errors of the DMA layer. Guest-controlled input never throws: guest
 * DMA returns a MemTxResult. These are thrown only for API misuse by emulator
 * code (a device model unmapping something it never mapped, an invalid
 * configuration), where failing loudly at the call is the useful behaviour.
 */
import { hostLog } from '../host/log.js';
export type DmaErrorCode =
  | 'bad-range' // address/length not integers, negative, or overflowing 2^53
  | 'not-mapped' // unmap of a mapping this address space never handed out
  | 'double-unmap' // unmap of a mapping already unmapped
  | 'bad-config' // invalid budget, chunk size, page-table layout, ...
  | 'cancelled'; // an async transfer was cancelled before it completed

export class DmaError extends Error {
  override readonly name = 'DmaError';
  constructor(
    readonly code: DmaErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Where the DMA layer writes its log lines (one line per call, no newline). */
export type LogSink = (line: string) => void;

export const stderrLog: LogSink = (line) => {
  hostLog(line);
};

/** Largest address + length a DMA may span (physical addresses are JS numbers below 2^53). */
export const ADDR_LIMIT = 2 ** 53;

/** True when [addr, addr + len) is a well-formed range below 2^53 (len may be 0). */
export function validRange(addr: number, len: number): boolean {
  return (
    // Compare against LIMIT - len: addr + len could round to 2^53 exactly.
    Number.isInteger(addr) && Number.isInteger(len) && addr >= 0 && len >= 0 && len <= ADDR_LIMIT && addr <= ADDR_LIMIT - len
  );
}
