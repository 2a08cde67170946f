// One cpu benchmark measurement in a fresh process (spawned by bench/cpu.bench.ts):
//   node --import tsx --import ./bench/dist.mjs bench/cpu-child.ts mix|footprint|density on|off|regions|blocks
// prints {"mips": CPU-time MIPS, "instructions": n, "cpuSeconds": s}.
import { assemble, makeMachine } from '../test/cpu/guest.js';
import { footprint, MIX } from './cpu-programs.js';
import { REGION_THRESHOLD } from '../src/cpu/riscv/jit/thresholds.js';

const [kind, jit] = process.argv.slice(2);
const translate = jit !== 'off';
/** `regions`: the region tier in front of the block translator (-accel tcg,regions=on). */
const regionThreshold = jit === 'regions' ? REGION_THRESHOLD : 0;
/** `blocks`: the block translator without threaded code in front of it (-accel tcg,threaded=off); else the default. */
const threadThreshold = jit === 'blocks' ? 0 : undefined;
const cpu = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

if (kind === 'mix') {
  const m = makeMachine(assemble(MIX), 8 << 20, { translate, threadThreshold });
  // Warm-up (V8 tiers, translation), then runs of 10 M instructions until 0.3 s of CPU: the
  // figure counts every thread of the process, and a fixed 100 M (~60 ms translated) swung by a
  // fifth with whether a background compile landed inside it (1,160-1,750 MIPS over 8 processes;
  // 1,630-1,890 timed this way).
  m.hart.run(20_000_000);
  const c0 = cpu();
  let done = 0;
  while (cpu() - c0 < 0.3) done += m.hart.run(10_000_000);
  const s = cpu() - c0;
  console.log(JSON.stringify({ mips: done / s / 1e6, instructions: done, cpuSeconds: s }));
} else if (kind === 'density') {
  // The cold-footprint program's 2,000 blocks once all are translated (a threshold of 16): 100
  // rounds translate them, then 2,000 rounds (24 M instructions) are timed, V8's tiers included.
  const round = 2000 * 6 + 2;
  const m = makeMachine(assemble(footprint(2000, 2100)), 8 << 20, translate ? { translate, translateThreshold: 16 } : { translate });
  m.hart.run(100 * round + 4);
  const c0 = cpu();
  const done = m.hart.run(2000 * round);
  const s = cpu() - c0;
  if (translate && m.hart.jit!.stats.translated < 2000) throw new Error('density: the blocks were not translated');
  console.log(JSON.stringify({ mips: done / s / 1e6, instructions: done, cpuSeconds: s }));
} else {
  // Cold: everything from process start of the guest (assembly excluded) counts.
  const image = assemble(footprint(2000, 1000));
  const c0 = cpu();
  const m = makeMachine(image, 8 << 20, { translate, regionThreshold, threadThreshold });
  // 2,000 blocks x 6 instructions x 1,000 rounds (+ setup)
  const done = m.hart.run(12_000_004);
  const s = cpu() - c0;
  console.log(JSON.stringify({ mips: done / s / 1e6, instructions: done, cpuSeconds: s }));
}
