/**
 * tsvmm explore SCENARIO --variant V --strategy random|pct|dfs [--depth D] [--runs N]
 *               [--seed S] [--preemptions B] [--replay R] [--max-steps N] [--no-lockdep]
 * tsvmm explore --list
 * Exit: 0 nothing found, 1 a failure found (report ends with `replay: ...`), 2 usage errors.
 */
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { explore, formatResult, STRATEGIES, ExploreUsageError, type ExploreOptions, type StrategyName } from '../explore/explorer.js';
import { decodeSchedule, ReplayFormatError } from '../explore/replay.js';
import { getScenario, listScenarios } from '../explore/scenarios/index.js';

const USAGE = 'usage: tsvmm explore SCENARIO --variant naive|shipped --strategy random|pct|dfs [--depth D] [--runs N] [--seed S] [--preemptions B] [--replay R] | --list';

function intArg(flag: string, v: string | undefined, min: number): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`${flag} needs a non-negative integer, got '${v ?? ''}'\n${USAGE}`, 2);
  const n = Number(v);
  if (n < min || !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be at least ${min}`, 2);
  return n;
}

export const command: Command = {
  name: 'explore',
  summary: 'explore schedules of a concurrency scenario',
  async run(argv: string[]): Promise<number> {
    let scenarioName: string | undefined;
    let variant: string | undefined;
    let strategy: string | undefined;
    let depth: number | undefined;
    let runs: number | undefined;
    let seed: number | undefined;
    let preemptions: number | undefined;
    let replay: string | undefined;
    let maxSteps: number | undefined;
    let lockdep = true;
    let list = false;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      const eq = a.indexOf('=');
      const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
      const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
      const val = (): string => {
        if (inline !== undefined) return inline;
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`, 2);
        return v;
      };
      switch (flag) {
        case '--list':
          list = true;
          break;
        case '--variant':
          variant = val();
          break;
        case '--strategy':
          strategy = val();
          break;
        case '--depth':
          depth = intArg(flag, val(), 1);
          break;
        case '--runs':
          runs = intArg(flag, val(), 1);
          break;
        case '--seed':
          seed = intArg(flag, val(), 0);
          break;
        case '--preemptions':
          preemptions = intArg(flag, val(), 0);
          break;
        case '--max-steps':
          maxSteps = intArg(flag, val(), 1);
          break;
        case '--replay':
          replay = val();
          break;
        case '--no-lockdep':
          lockdep = false;
          break;
        case '-h':
        case '--help':
          console.log(USAGE);
          return 0;
        default:
          if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'\n${USAGE}`, 2);
          if (scenarioName !== undefined) throw new UsageError(`more than one scenario given ('${scenarioName}', '${a}')`, 2);
          scenarioName = a;
      }
    }
    if (list) {
      for (const s of listScenarios()) {
        const known = s.buggy.length ? ` [known bug in: ${s.buggy.join(', ')}]` : '';
        console.log(`${s.name.padEnd(32)} ${s.variants.join('|').padEnd(14)} ${s.description}${known}`);
        console.log(`${''.padEnd(32)} drives: ${s.drives === undefined ? '(not declared)' : s.drives.length ? s.drives.map((m) => `src/${m}`).join(', ') : 'src/sync only (an explorer self-check)'}`);
      }
      return 0;
    }
    if (scenarioName === undefined) throw new UsageError(`no scenario given\n${USAGE}`, 2);
    const scenario = getScenario(scenarioName);
    if (!scenario) throw new UsageError(`unknown scenario '${scenarioName}' (tsvmm explore --list shows them)`, 2);
    if (variant === undefined) throw new UsageError(`missing --variant (${scenario.variants.join('|')})`, 2);
    if (!scenario.variants.includes(variant)) throw new UsageError(`scenario ${scenario.name} has no variant '${variant}' (${scenario.variants.join('|')})`, 2);
    if (replay === undefined && strategy === undefined) throw new UsageError(`missing --strategy (${STRATEGIES.join('|')})`, 2);
    if (strategy !== undefined && !(STRATEGIES as readonly string[]).includes(strategy)) throw new UsageError(`unknown strategy '${strategy}' (${STRATEGIES.join('|')})`, 2);
    if (replay !== undefined) {
      try {
        decodeSchedule(replay);
      } catch (e) {
        if (e instanceof ReplayFormatError) throw new UsageError(e.message, 2);
        throw e;
      }
    }
    const opts: ExploreOptions = {
      strategy: (strategy ?? 'random') as StrategyName,
      depth,
      runs,
      seed,
      preemptions,
      replay,
      lockdep,
      maxSteps,
    };
    let result;
    try {
      result = await explore(scenario, variant, opts);
    } catch (e) {
      if (e instanceof ExploreUsageError || e instanceof ReplayFormatError) throw new UsageError(e.message, 2);
      throw e;
    }
    if (result.failure?.kind === 'replay-diverged') throw new UsageError(`replay string does not fit ${scenario.name} (${variant}): ${result.failure.message}`, 2);
    console.log(formatResult(result));
    return result.failure ? 1 : 0;
  },
};
