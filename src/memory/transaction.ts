/**
 * Memory transactions. Like QEMU's, they are per realm (module state here,
 * global state in QEMU): one nesting depth, one "update pending" flag, one set
 * of address spaces to re-render. Only the outermost commit re-renders the flat
 * views, calls listeners and publishes the new views.
 *
 * The memory map is mutated by the thread that owns the realm (QEMU's BQL
 * holder); other threads only read published FlatView snapshots.
 */
import { MemoryError } from './errors.js';

/** Something re-rendered on the outermost commit (an AddressSpace registry). */
export interface TopologyUpdater {
  /** `romdOnly`: when non-null, the only change is these ROM devices' romd mode. */
  updateTopology(romdOnly: ReadonlySet<import('./region.js').MemoryRegion> | null): void;
}

let depth = 0;
let updatePending = false;
/** Set by any change that can alter the shape of a flat view. */
let structural = false;
/** ROM devices whose romd mode flipped since the last publish (the only change when !structural). */
const romdFlips = new Set<import('./region.js').MemoryRegion>();
let committing = false;
let updater: TopologyUpdater | null = null;

/** Installed once by address-space.ts; kept here to avoid an import cycle. */
export function setTopologyUpdater(u: TopologyUpdater): void {
  updater = u;
}

export function beginTransaction(): void {
  if (committing) {
    throw new MemoryError('memory map changed by a listener while a transaction was being committed');
  }
  depth++;
}

export function commitTransaction(): void {
  if (depth === 0) throw new MemoryError('commitTransaction without beginTransaction');
  depth--;
  if (depth > 0 || !updatePending) return;
  updatePending = false;
  committing = true;
  const romdOnly = !structural && romdFlips.size > 0 ? new Set(romdFlips) : null;
  structural = false;
  romdFlips.clear();
  try {
    updater?.updateTopology(romdOnly);
  } finally {
    committing = false;
  }
}

/** Run fn inside a transaction; the views change once, when the outermost one ends. */
export function memoryTransaction<T>(fn: () => T): T {
  beginTransaction();
  try {
    return fn();
  } finally {
    commitTransaction();
  }
}

/** Called by region mutators inside their own begin/commit. */
export function markUpdatePending(): void {
  updatePending = true;
  structural = true;
}

/**
 * A ROM device switched romd mode and nothing else changed: the flat views
 * keep their shape, so the commit can patch the affected ranges instead of
 * re-rendering (U-Boot's CFI probe flips romd hundreds of times).
 */
export function markRomdFlip(mr: import('./region.js').MemoryRegion): void {
  updatePending = true;
  romdFlips.add(mr);
}

export function transactionDepth(): number {
  return depth;
}
