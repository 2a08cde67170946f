/**
 * The async helper for block backends (QEMU's dma_blk_io): walk an SG list,
 * map as much as one chunk allows, hand the mapped buffers to the backend,
 * unmap (writing bounce/shadow buffers back), repeat; then complete.
 *
 * - Chunked: at most `maxChunk` bytes are mapped at a time, so a huge request
 *   never pins more than that, and the bounce budget is shared fairly.
 * - When a map is refused for lack of bounce/shadow space and nothing is
 *   mapped yet, the transfer waits on registerMapClient and retries.
 * - A completion: `done` resolves (never rejects) with the outcome, and the
 *   optional `onComplete` callback gets the same value.
 * - Cancellation: `cancel()` stops before the next chunk; a chunk whose backend
 *   I/O is in flight is awaited (its AbortSignal fires), then unmapped with
 *   accessLen 0, so nothing more reaches guest memory through bounce buffers.
 * - The transfer belongs to the transaction that started it: its map and unmap
 *   steps run in a fork of the starter's DispatchContext, so a device's own
 *   async DMA still cannot reach the device's registers (the guard).
 */
import { MEMTX_OK, type MemTxResult } from '../memory/types.js';
import type { SyncPoints } from '../sync/sync-points.js';
import {
  DMA_DIRECTION_FROM_DEVICE,
  dmaMap,
  dmaSyncPoints,
  dmaUnmap,
  registerMapClient,
  type DmaDirection,
  type DmaMapping,
} from './dma.js';
import { DmaError } from './errors.js';
import { currentContext, withContext } from './guard.js';
import type { SgList } from './sglist.js';
import type { DmaRequest } from './inflight.js';

/**
 * The backend's side: transfer between the device (disk) at byte `offset` and
 * `iov`, in order. FROM_DEVICE (a disk read) fills the buffers; TO_DEVICE (a
 * disk write) consumes them. Reject to fail the request.
 */
export type BlockIoFn = (iov: Uint8Array[], offset: number, dir: DmaDirection, signal: AbortSignal) => Promise<void>;

export type DmaTransferStatus = 'running' | 'ok' | 'error' | 'cancelled';

export interface DmaTransferResult {
  readonly status: Exclude<DmaTransferStatus, 'running'>;
  /** OR of the map/unmap results (an IOMMU fault, a guard refusal, an unassigned address). */
  readonly result: MemTxResult;
  /** Bytes transferred to completion. */
  readonly bytes: number;
  /** The backend's error, or a DmaError, when status is 'error'/'cancelled'. */
  readonly error?: unknown;
}

export interface DmaTransfer {
  readonly done: Promise<DmaTransferResult>;
  readonly status: DmaTransferStatus;
  cancel(): void;
}

export interface DmaTransferOptions {
  /** Most bytes mapped at once (default 128 KiB). */
  maxChunk?: number;
  onComplete?: (r: DmaTransferResult) => void;
  /** Where the transfer yields to the schedule explorer (default: the address space's, see configureDma). */
  syncPoints?: SyncPoints;
  /**
   * The device request the transfer belongs to (inflight.ts). The transfer
   * then maps private buffers only (never a direct view of guest RAM handed
   * to host I/O), and revoking the request cancels it: whatever the host I/O
   * still does lands in the private buffers, which are dropped.
   */
  request?: DmaRequest;
}

const DEFAULT_MAX_CHUNK = 128 * 1024;

class Transfer implements DmaTransfer {
  status: DmaTransferStatus = 'running';
  readonly done: Promise<DmaTransferResult>;
  private readonly abort = new AbortController();
  private wake: (() => void) | null = null;

  constructor(run: (t: Transfer) => Promise<DmaTransferResult>, onComplete?: (r: DmaTransferResult) => void) {
    this.done = run(this).then((r) => {
      this.status = r.status;
      onComplete?.(r);
      return r;
    });
  }

  get cancelled(): boolean {
    return this.abort.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  cancel(): void {
    if (this.status !== 'running' || this.cancelled) return;
    this.abort.abort(new DmaError('cancelled', 'DMA transfer cancelled'));
    this.wake?.();
  }

  waitForMapSpace(sg: SgList): Promise<void> {
    return new Promise((resolve) => {
      const client = registerMapClient(sg.as, () => {
        this.wake = null;
        resolve();
      });
      this.wake = () => {
        client.cancel();
        this.wake = null;
        resolve();
      };
    });
  }
}

/**
 * QEMU's dma_blk_io: transfer the guest buffers of `sg` to or from a block
 * backend at byte `offset`. `dir` is the DMA direction as the device sees it:
 * FROM_DEVICE for a disk read (guest memory is written).
 */
export function dmaBlkIo(sg: SgList, offset: number, dir: DmaDirection, io: BlockIoFn, opts: DmaTransferOptions = {}): DmaTransfer {
  const maxChunk = opts.maxChunk ?? DEFAULT_MAX_CHUNK;
  if (!Number.isInteger(maxChunk) || maxChunk <= 0) {
    throw new DmaError('bad-config', `maxChunk must be a positive integer, got ${maxChunk}`);
  }
  const sync = opts.syncPoints ?? dmaSyncPoints(sg.as);
  const ctx = currentContext().fork('dma-blk-io');
  const isWrite = dir === DMA_DIRECTION_FROM_DEVICE;
  const as = sg.as;
  const req = opts.request;
  const mapOpts = req ? { private: true } : undefined;

  const run = async (t: Transfer): Promise<DmaTransferResult> => {
    let entry = 0;
    let within = 0;
    let bytes = 0;
    let result: MemTxResult = MEMTX_OK;
    const maps: DmaMapping[] = [];
    while (entry < sg.count) {
      if (req?.revoked) t.cancel();
      if (t.cancelled) return { status: 'cancelled', result, bytes, error: t.signal.reason };
      let total = 0;
      let waitForSpace = false;
      let failed = false;
      withContext(ctx, () => {
        while (entry < sg.count && total < maxChunk) {
          const want = Math.min(sg.len(entry) - within, maxChunk - total);
          const m = dmaMap(as, sg.base(entry) + within, want, isWrite, sg.attrs, mapOpts);
          if (!m.ok) {
            if (m.retry) waitForSpace = maps.length === 0;
            else {
              result |= m.result;
              failed = true;
            }
            return;
          }
          maps.push(m);
          total += m.length;
          within += m.length;
          if (within === sg.len(entry)) {
            entry++;
            within = 0;
          }
        }
      });
      if (maps.length === 0) {
        if (failed) return { status: 'error', result, bytes, error: new DmaError('bad-range', 'DMA map failed') };
        if (waitForSpace) {
          await t.waitForMapSpace(sg);
          continue;
        }
      }
      let ioError: unknown = null;
      try {
        await sync.yield('dma-map', 'dma-blk-io chunk mapped');
        if (req?.revoked) t.cancel();
        // Cancelled while the chunk was being mapped: the backend never sees it.
        if (!t.cancelled) await io(
          maps.map((m) => m.bytes),
          offset + bytes,
          dir,
          t.signal,
        );
      } catch (e) {
        ioError = e;
      }
      const keep = ioError === null && !t.cancelled && !req?.revoked;
      withContext(ctx, () => {
        for (const m of maps) result |= dmaUnmap(as, m, keep ? m.length : 0);
      });
      maps.length = 0;
      await sync.yield('dma-unmap', 'dma-blk-io chunk unmapped');
      if (t.cancelled) return { status: 'cancelled', result, bytes, error: t.signal.reason };
      if (ioError !== null) return { status: 'error', result, bytes, error: ioError };
      bytes += total;
      if (failed || result !== MEMTX_OK) {
        return { status: 'error', result, bytes, error: new DmaError('bad-range', 'DMA map or write-back failed') };
      }
    }
    await sync.yield('dma-complete', `dma-blk-io ${bytes} bytes`);
    return { status: 'ok', result, bytes };
  };
  const t = new Transfer(run, opts.onComplete);
  if (req) {
    if (req.revoked) t.cancel();
    else req.signal.addEventListener('abort', () => t.cancel(), { once: true });
  }
  return t;
}
