/**
 * Cross-origin isolation, checked before anything else is evaluated (this
 * module is the page's first import). SharedArrayBuffer exists only in a
 * cross-origin isolated page (served with Cross-Origin-Opener-Policy:
 * same-origin and Cross-Origin-Embedder-Policy: require-corp). Without it
 * there is no shared memory, so no hart can run in a worker: the page then
 * runs one hart on its own thread, where nothing is shared with another
 * realm and plain ArrayBuffers serve (Atomics work on unshared arrays).
 */
export const isolated: boolean = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';

if (!isolated && typeof SharedArrayBuffer !== 'function') {
  (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer = ArrayBuffer;
}

/** The isolation headers this page's response lacked (read back from the server). */
export async function missingIsolationHeaders(): Promise<string[]> {
  const want: [string, string][] = [
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Cross-Origin-Embedder-Policy', 'require-corp'],
  ];
  try {
    const r = await fetch(location.href, { method: 'HEAD', cache: 'no-store' });
    return want.filter(([h, v]) => (r.headers.get(h) ?? '').toLowerCase() !== v).map(([h, v]) => `${h}: ${v}`);
  } catch {
    return want.map(([h, v]) => `${h}: ${v}`);
  }
}
