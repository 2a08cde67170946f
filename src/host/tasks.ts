/**
 * Yield to the host's event loop (I/O, input, timers run) and come back as
 * soon as possible: setImmediate in Node; a MessageChannel round trip in a
 * browser, where setTimeout(0) is clamped to 4 ms once nested.
 */
const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;

function channelQueue(): (fn: () => void) => void {
  const ch = new MessageChannel();
  const q: (() => void)[] = [];
  ch.port1.onmessage = () => q.shift()?.();
  return (fn) => {
    q.push(fn);
    ch.port2.postMessage(0);
  };
}

/** Run fn from the host's event loop, after pending I/O. */
export const runSoon: (fn: () => void) => void = immediate ? (fn) => void immediate(fn) : channelQueue();

export function yieldToHost(): Promise<void> {
  return new Promise<void>((r) => runSoon(r));
}
