/**
 * What a device holds (QEMU's BlockBackend): the root of a driver graph plus
 * a name and the error-event hook. Every failed request is reported to the
 * listeners (the QMP layer turns them into BLOCK_IO_ERROR) and then rejected
 * to the device, which completes it with an I/O error status.
 */
import { isNoSpace, type BlockDriver } from './driver.js';

export interface BlockIoErrorEvent {
  /** The drive id (QMP's `device`). */
  device: string;
  /** QMP's operation: flush and discard count as writes. */
  operation: 'read' | 'write';
  /** What failed, more precisely than `operation`. */
  request: 'read' | 'write' | 'flush' | 'write-zeroes' | 'discard';
  /** tsvmm always reports the error to the guest (QEMU's werror/rerror=report). */
  action: 'report';
  nospace: boolean;
  reason: string;
}

export type BlockIoErrorListener = (ev: BlockIoErrorEvent) => void;

export class BlockBackend implements BlockDriver {
  /** Subscribe with onError.add(fn); listeners run synchronously, before the device sees the failure. */
  readonly onError = new Set<BlockIoErrorListener>();
  /** Extra lines for `info block`-style output (format, backing chain, snapshots). */
  constructor(
    readonly name: string,
    readonly root: BlockDriver,
    readonly description: string,
  ) {}

  get size(): number {
    return this.root.size;
  }
  get readonly(): boolean {
    return this.root.readonly;
  }

  private report<T>(p: Promise<T>, request: BlockIoErrorEvent['request']): Promise<T> {
    return p.catch((e: unknown) => {
      const ev: BlockIoErrorEvent = {
        device: this.name,
        operation: request === 'read' ? 'read' : 'write',
        request,
        action: 'report',
        nospace: isNoSpace(e),
        reason: e instanceof Error ? e.message : String(e),
      };
      for (const fn of this.onError) {
        try {
          fn(ev);
        } catch {
          // A listener's failure must not change what the guest sees.
        }
      }
      throw e;
    });
  }

  readv(bufs: Uint8Array[], offset: number): Promise<void> {
    return this.report(this.root.readv(bufs, offset), 'read');
  }
  writev(bufs: Uint8Array[], offset: number): Promise<void> {
    return this.report(this.root.writev(bufs, offset), 'write');
  }
  flush(): Promise<void> {
    return this.report(this.root.flush(), 'flush');
  }
  writeZeroes(offset: number, len: number): Promise<void> {
    return this.report(this.root.writeZeroes(offset, len), 'write-zeroes');
  }
  discard(offset: number, len: number): Promise<void> {
    return this.report(this.root.discard(offset, len), 'discard');
  }
  close(): Promise<void> {
    return this.root.close();
  }
}
