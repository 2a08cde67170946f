/**
 * Host services on Node: files through node:fs, gunzip through node:zlib,
 * realms in worker_threads. From the compiled tree (dist/) a worker loads its
 * entry directly; from the sources through tsx a worker starts without the
 * parent's loader hooks, so it loads a shim that registers tsx first.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { HostFileError, type HostServices, type RealmKind, type RealmWorker, type SyncFile } from './types.js';
import { hostLog } from './log.js';

const COMPILED = import.meta.url.endsWith('.js');
const ext = COMPILED ? 'js' : 'ts';
const HART_BUNDLE = new URL('../machine/smp/hart-worker.bundle.js', import.meta.url);
const ENTRIES: Record<RealmKind, URL> = {
  // The single-file build of the hart realm when there is one (scripts/build.mjs says why).
  hart: COMPILED && existsSync(HART_BUNDLE) ? HART_BUNDLE : new URL(`../machine/smp/hart-worker.${ext}`, import.meta.url),
  io: new URL(`../machine/smp/io-thread-worker.${ext}`, import.meta.url),
};
const BOOTSTRAP = new URL('../machine/smp/worker-bootstrap.mjs', import.meta.url);

function fileError(path: string, e: unknown): HostFileError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EISDIR' ? 'Is a directory' : code === 'EACCES' ? 'Permission denied' : String((e as Error).message);
  return new HostFileError(why, code);
}

class NodeSyncFile implements SyncFile {
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}
  read(buf: Uint8Array, off: number, len: number, pos: number): number {
    return readSync(this.fd, buf, off, len, pos);
  }
  write(buf: Uint8Array, off: number, len: number, pos: number): void {
    writeSync(this.fd, buf, off, len, pos);
  }
  close(): void {
    closeSync(this.fd);
  }
}

function wrap(w: Worker): RealmWorker {
  return {
    onMessage: (fn) => void w.on('message', fn),
    onError: (fn) => void w.on('error', (e: Error) => fn(e.message)),
    onExit: (fn) => void w.on('exit', fn),
    terminate: async () => {
      await w.terminate();
    },
  };
}

export const nodeHost: HostServices = {
  platform: 'node',
  cpus: Math.max(1, availableParallelism()),
  files: {
    exists: (path) => existsSync(path),
    read: (path) => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw fileError(path, e);
      }
    },
  },
  openSyncFile(path, readOnly) {
    let fd: number;
    try {
      fd = openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw fileError(path, e);
    }
    return new NodeSyncFile(fd, fstatSync(fd).size);
  },
  // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
  gunzipSync: (b, maxOutput) => process.getBuiltinModule('node:zlib').gunzipSync(b, { maxOutputLength: maxOutput }),
  // The kernel's pool through node:fs, loaded anyway: Web Crypto (globalThis.crypto) loads
  // ten of Node's modules at first use, ~2 ms of every start (the machine's rng-seed).
  randomFill(buf) {
    try {
      const fd = openSync('/dev/urandom', 'r');
      try {
        if (readSync(fd, buf, 0, buf.length, null) === buf.length) return buf;
      } finally {
        closeSync(fd);
      }
    } catch {
      // No /dev/urandom (Windows): Web Crypto below.
    }
    return globalThis.crypto.getRandomValues(buf);
  },
  spawnRealm(kind, data, transfer) {
    const entry = ENTRIES[kind];
    // Loaded at first use, not imported (a machine without realms never needs it): docs/cpu.md (start-up).
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    return wrap(new Worker(COMPILED ? entry : BOOTSTRAP, { workerData: { ...data, entry: entry.href }, transferList: transfer as never[] }));
  },
  log: hostLog,
};
