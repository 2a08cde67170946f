// web.mips in a Web Worker (bundled by bench/web.bench.ts): the cpu.mips run
// of bench/cpu-child.ts on the same test machine, timed by the worker's clock.
import { makeMachine } from '../../test/cpu/guest-machine.js';

onmessage = (e: MessageEvent<{ image: Uint8Array; warm: number; n: number }>) => {
  const { image, warm, n } = e.data;
  const m = makeMachine(image, 8 << 20, { translate: true });
  // Warm-up (V8 tiers, translation), then a fixed run, as cpu.mips.
  m.hart.run(warm);
  const t0 = performance.now();
  const done = m.hart.run(n);
  const s = (performance.now() - t0) / 1000;
  postMessage({ mips: done / s / 1e6, instructions: done, seconds: s });
};
