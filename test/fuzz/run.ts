/**
 * `npm run fuzz -- TARGET [--runs N | --seconds S] [--seed N]`: run one fuzz
 * target (or `all`; `--list` names them). On a failure it prints the seed and
 * path that reproduce it (put them in test/fuzz/regressions.test.ts) and
 * exits 1.
 */
import fc from 'fast-check';
import { TARGETS } from './targets/index.js';

function usage(code: number): never {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write('usage: npm run fuzz -- TARGET|all [--runs N | --seconds S] [--seed N]\n\ntargets:\n');
  for (const t of TARGETS) out.write(`  ${t.name.padEnd(16)} ${t.summary}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.includes('--list') || args.includes('--help') || args.length === 0) usage(args.length === 0 ? 2 : 0);
const name = args[0]!;
const opt = (flag: string): number | undefined => {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`fuzz: ${flag} needs a number\n`);
    process.exit(2);
  }
  return v;
};
const runs = opt('--runs');
const seconds = opt('--seconds');
const seed = opt('--seed') ?? (Date.now() ^ (Math.random() * 0x100000000)) | 0;
const chosen = name === 'all' ? TARGETS : TARGETS.filter((t) => t.name === name);
if (chosen.length === 0) {
  process.stderr.write(`fuzz: unknown target '${name}'\n`);
  usage(2);
}

let failed = false;
for (const t of chosen) {
  const started = performance.now();
  const params: fc.Parameters<[unknown]> = { seed, numRuns: runs ?? (seconds !== undefined ? Number.MAX_SAFE_INTEGER : 1000) };
  if (seconds !== undefined) params.interruptAfterTimeLimit = seconds * 1000;
  const prop = fc.asyncProperty(t.arbitrary, async (input) => {
    await t.check(input);
  });
  const r = await fc.check(prop, params);
  const ms = Math.round(performance.now() - started);
  if (r.failed) {
    failed = true;
    process.stdout.write(`${t.name}: FAILED after ${r.numRuns} runs (${ms} ms): seed ${r.seed}, path "${r.counterexamplePath}"\n`);
    process.stdout.write(`  ${String((r.errorInstance as Error | undefined)?.message ?? r.error).split('\n')[0]}\n`);
    process.stdout.write(`  counterexample: ${fc.stringify(r.counterexample).slice(0, 2000)}\n`);
  } else {
    process.stdout.write(`${t.name}: ${r.numRuns} runs passed in ${ms} ms (seed ${seed})\n`);
  }
}
process.exit(failed ? 1 : 0);
