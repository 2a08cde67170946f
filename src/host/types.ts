/**
 * Host services: what the machine needs from the platform it runs on (Node
 * or a web page), behind small interfaces so that the memory core, devices,
 * the board and the SMP realms are the same code in both. `default.ts` picks
 * the platform's implementation (node.ts; a browser bundle maps it to
 * default-browser.ts, see package.json "browser" and scripts/web.mjs).
 */

/** A host file the board reads whole (firmware, kernel, initrd, DTB). */
export interface HostFiles {
  exists(path: string): boolean;
  /** The file's bytes; throws HostFileError (code ENOENT, EISDIR, EACCES, ...) otherwise. */
  read(path: string): Uint8Array;
}

export class HostFileError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'HostFileError';
  }
}

/** A file the machine reads and writes in place, synchronously (a CFI flash bank's backing). */
export interface SyncFile {
  readonly size: number;
  /** Read `len` bytes at `pos` into buf[off..]; returns the bytes read. */
  read(buf: Uint8Array, off: number, len: number, pos: number): number;
  write(buf: Uint8Array, off: number, len: number, pos: number): void;
  close(): void;
}

/** A realm's worker as its creator sees it (Node's worker_threads.Worker or a Web Worker). */
export interface RealmWorker {
  onMessage(fn: (message: unknown) => void): void;
  /** An uncaught error in the worker (the worker is gone or about to be). */
  onError(fn: (message: string) => void): void;
  /** The worker ended (code 0 after a normal stop). */
  onExit(fn: (code: number) => void): void;
  terminate(): Promise<void>;
}

/** The worker's side: its start data, its parent and the snapshot port. */
export interface RealmEndpoint<D> {
  readonly data: D;
  post(message: unknown): void;
  /**
   * The next message queued on `port` without returning to the event loop,
   * or undefined. Node reads the port synchronously; a browser worker sees
   * only what was delivered at its last return to the event loop, so the
   * caller must `await waitForMessage()` when it knows one is on its way.
   */
  receiveNow(port: MessagePort): unknown;
  waitForMessage(port: MessagePort): Promise<void>;
  /** Run when the worker ends for any reason the platform reports. */
  onExit(fn: () => void): void;
  /** The worker ends with this code once its entry returns. */
  exit(code: number): void;
  log(line: string): void;
}

export type RealmKind = 'hart' | 'io';

export interface HostServices {
  readonly platform: 'node' | 'browser';
  /**
   * Logical processors the host offers this process (at least 1): whether V8's
   * background compiles have a core to themselves beside the busy hart threads.
   */
  readonly cpus: number;
  readonly files: HostFiles;
  /** Open a file for in-place synchronous I/O; throws HostFileError. */
  openSyncFile(path: string, readOnly: boolean): SyncFile;
  /**
   * Decompress a whole gzip stream, throwing on damage, or with code
   * ERR_BUFFER_TOO_LARGE past `maxOutput` bytes; null where the platform has
   * no synchronous inflate.
   */
  readonly gunzipSync: ((bytes: Uint8Array, maxOutput: number) => Uint8Array) | null;
  /** Fill `buf` (at most 64 KiB) with cryptographically strong random bytes and return it. */
  randomFill(buf: Uint8Array): Uint8Array;
  /** Start a realm worker with its data (the MessagePorts in `transfer` move to it). */
  spawnRealm(kind: RealmKind, data: object, transfer: MessagePort[]): RealmWorker;
  /** Where log lines go when the caller gave no logger. */
  log(line: string): void;
}
