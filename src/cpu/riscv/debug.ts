/**
 * Hooks a debugger (the gdbstub, Sdtrig triggers) installs on a hart. While
 * `hart.debug` is non-null the hart runs instruction by instruction in the
 * interpreter with its data TLBs bypassed, so every hook sees every access;
 * with it null no hook costs anything (the run loop checks it once per quantum).
 */
export interface HartDebugHooks {
  /** Called before each instruction; true stops the run loop before executing it. */
  beforeInstruction(): boolean;
  /** Called on each load/store (vaddr, size in bytes); true stops the run loop after the instruction. */
  onDataAccess(vaddr: bigint, size: number, write: boolean): boolean;
}
