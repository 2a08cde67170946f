/**
 * The reentrancy guard's context, for DMA code. It lives in the memory core
 * (src/memory/dispatch-context.ts), because dispatch engages the guard; the
 * async DMA helper forks it (block-io.ts). See docs/dma.md.
 */
export { DispatchContext, currentContext, withContext, type GuardKey } from '../memory/dispatch-context.js';
export { runOnBehalf } from '../sync/work.js';
