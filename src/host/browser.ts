/**
 * Host services in a web page: files are named blobs the page registered
 * (fetched from the site or picked from the user's disk), realms are Web
 * Workers loading the bundled worker entry, and there is no synchronous
 * inflate (an initrd's gzip stream is then checked by its framing only).
 * Worker messages: the creator posts {kind: 'start', data, clockOrigin} with
 * the data's ports; the worker posts {kind: '__exit', code} when its entry
 * returns (the platform has no exit event).
 */
import { clockOrigin } from './clock.js';
import { HostFileError, type HostFiles, type HostServices, type RealmKind, type RealmWorker } from './types.js';

/** Named blobs the page registered. */
export class BlobFiles implements HostFiles {
  private readonly blobs = new Map<string, Uint8Array>();

  set(name: string, bytes: Uint8Array): void {
    this.blobs.set(name, bytes);
  }

  delete(name: string): void {
    this.blobs.delete(name);
  }

  exists(path: string): boolean {
    return this.blobs.has(path);
  }

  read(path: string): Uint8Array {
    const b = this.blobs.get(path);
    if (!b) throw new HostFileError('No such file or directory', 'ENOENT');
    return b;
  }
}

/** Where the bundled worker entries are (set by the page before a machine starts workers). */
const workerUrls: Partial<Record<RealmKind, string>> = {};

export function setRealmWorkerUrl(kind: RealmKind, url: string): void {
  workerUrls[kind] = url;
}

function wrap(w: Worker): RealmWorker {
  const onMsg: ((m: unknown) => void)[] = [];
  const onErr: ((m: string) => void)[] = [];
  const onExit: ((code: number) => void)[] = [];
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    for (const f of onExit) f(code);
  };
  w.onmessage = (e: MessageEvent) => {
    const m = e.data as { kind?: string; code?: number };
    if (m && m.kind === '__exit') {
      w.terminate();
      exit(m.code ?? 0);
    } else for (const f of onMsg) f(m);
  };
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    const text = e.message || 'the worker failed to load or crashed';
    for (const f of onErr) f(text);
    w.terminate();
    exit(1);
  };
  w.onmessageerror = () => {
    for (const f of onErr) f('a message could not be deserialized');
  };
  return {
    onMessage: (fn) => void onMsg.push(fn),
    onError: (fn) => void onErr.push(fn),
    onExit: (fn) => void onExit.push(fn),
    terminate: async () => {
      w.terminate();
      exit(1);
    },
  };
}

export const browserFiles = new BlobFiles();

export const browserHost: HostServices = {
  platform: 'browser',
  cpus: Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1),
  files: browserFiles,
  openSyncFile() {
    throw new HostFileError('files opened for in-place I/O are not available in a web page', 'ENOTSUP');
  },
  gunzipSync: null,
  randomFill: (buf) => globalThis.crypto.getRandomValues(buf),
  spawnRealm(kind, data, transfer) {
    const url = workerUrls[kind];
    if (!url) throw new Error(`no ${kind} worker bundle is configured for this page`);
    const w = new Worker(url, { type: 'module', name: `tsvmm-${kind}` });
    w.postMessage({ kind: 'start', data, clockOrigin: clockOrigin() }, transfer);
    return wrap(w);
  },
  log: (line) => console.warn(line),
};
