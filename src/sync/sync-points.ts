/**
 * The sync-point hook: components call it where a concurrent interleaving
 * could matter, without depending on the explorer. The default does nothing.
 *
 * Synchronous code (memory dispatch, transaction commit) can only announce a
 * point (`at`); the explorer records it and checks invariants there. Async
 * code (device coroutines, DMA completions) awaits `yield`, which is where the
 * explorer may switch tasks. Awaiting `undefined` costs one microtask.
 */
export type SyncPointKind =
  | 'lock'
  | 'unlock'
  | 'dispatch-begin'
  | 'dispatch-end'
  | 'dma-map'
  | 'dma-unmap'
  | 'dma-complete'
  | 'iommu-invalidate'
  | 'region-commit'
  | 'irq-deliver'
  | 'removal'
  | 'await';

export interface SyncPoints {
  /** Announce a point in synchronous code. Must not throw for ordinary traffic. */
  at(kind: SyncPointKind, label: string): void;
  /** A point where an async caller may be preempted. */
  yield(kind: SyncPointKind, label: string): Promise<void> | undefined;
}

export const NO_SYNC_POINTS: SyncPoints = Object.freeze({
  at(): void {},
  yield(): undefined {
    return undefined;
  },
});
