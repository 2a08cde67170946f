/**
 * The scheduling interfaces moved down to src/sync/work.ts (hw and dma name
 * them; they must not import from machine). This re-export keeps src/dma/iommu.ts
 * compiling until its own issue switches the import; new code imports sync/work.
 */
export type { BottomHalf, Clock, Scheduler, Timer, WorkOwner } from '../sync/work.js';
