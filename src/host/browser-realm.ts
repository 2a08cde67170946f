/** The worker side of a realm in a browser (a Web Worker): see RealmEndpoint and browser.ts. */
import { setClockOrigin } from './clock.js';
import type { RealmEndpoint } from './types.js';

interface WorkerScope {
  postMessage(m: unknown): void;
  close(): void;
}

/** Wait for the creator's start message, then hand the endpoint to `main`. */
export function startBrowserRealm<D>(main: (ep: RealmEndpoint<D>) => void | Promise<void>): void {
  const scope = globalThis as unknown as WorkerScope & { onmessage: ((e: MessageEvent) => void) | null };
  scope.onmessage = (e: MessageEvent) => {
    const m = e.data as { kind: string; data: D; clockOrigin: number };
    if (m.kind !== 'start') return;
    scope.onmessage = null;
    setClockOrigin(m.clockOrigin);
    void main(browserRealmEndpoint(m.data, scope));
  };
}

function browserRealmEndpoint<D>(data: D, scope: WorkerScope): RealmEndpoint<D> {
  const queues = new Map<MessagePort, unknown[]>();
  const waiters = new Map<MessagePort, () => void>();
  const exitFns: (() => void)[] = [];
  const queue = (port: MessagePort): unknown[] => {
    let q = queues.get(port);
    if (!q) {
      const nq: unknown[] = [];
      queues.set(port, nq);
      port.onmessage = (e) => {
        nq.push(e.data);
        const w = waiters.get(port);
        waiters.delete(port);
        w?.();
      };
      q = nq;
    }
    return q;
  };
  return {
    data,
    post: (m) => scope.postMessage(m),
    receiveNow: (port) => queue(port).shift(),
    waitForMessage: (port) =>
      queue(port).length > 0
        ? Promise.resolve()
        : new Promise<void>((r) => {
            waiters.set(port, r);
            // A message announced by an epoch is already posted; the timeout only bounds a lost one.
            setTimeout(r, 50);
          }),
    onExit: (fn) => void exitFns.push(fn),
    exit: (code) => {
      for (const f of exitFns) f();
      scope.postMessage({ kind: '__exit', code });
      scope.close();
    },
    log: (line) => console.warn(line),
  };
}
