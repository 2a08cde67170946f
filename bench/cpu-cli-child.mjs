// One cpu.cold_footprint_cli measurement in a fresh process (spawned by bench/cpu.bench.ts):
//   node START_V8_FLAGS bench/cpu-cli-child.mjs on|off FIRMWARE
// runs FIRMWARE as `tsvmm run` does — bin/tsvmm's V8 flags (bin/v8-flags.cjs), the CLI's bundle with its code cache,
// the virt machine — and prints {"cpuSeconds": s, "code": exit code}: CPU of the whole process
// from just before the CLI's main() to its return (Node's own start and the bundle's load, the
// same for both engines, are left out).
import { fileURLToPath } from 'node:url';
import { applyV8Flags } from '../bin/v8-flags.cjs';

const [jit, firmware] = process.argv.slice(2);
const { loadScript } = await import(new URL('../dist/src/host/script-loader.js', import.meta.url).href);
const { exports, cache } = loadScript(fileURLToPath(new URL('../dist/src/cli/main.script.js', import.meta.url)));
if (cache !== 'used') throw new Error(`the CLI's code cache was ${cache} (npm run build makes it)`);
const args = ['run', '-machine', 'virt', '-m', '64M', '-nographic', '-bios', firmware];
if (jit === 'off') args.splice(1, 0, '-accel', 'tcg,jit=off');
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const c0 = cpu();
// V8's budgets as the run starts, as bin/tsvmm sets them (bin/v8-flags.cjs says why).
const code = await exports.main(args, { runStarting: applyV8Flags });
console.log(JSON.stringify({ cpuSeconds: cpu() - c0, code }));
