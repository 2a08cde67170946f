// explore.schedules_per_s: complete explorer runs (fresh scenario, scheduler
// and validator each) per second, PCT depth 3, on reference scenarios.
import type { Report } from './harness.js';
import { median, round } from './harness.js';
import { explore } from '../src/explore/explorer.js';
import { getScenario } from '../src/explore/scenarios/index.js';
import { BigLock, Mutex, createRealmSyncEnv } from '../src/sync/index.js';
import { timeNs } from './harness.js';

export const group = 'explore';

// The first entry is the reference for explore.schedules_per_s; every seed
// scenario follows (issues 9 and 19), shipped variants (they run to completion).
const REFERENCE: readonly [string, string][] = [
  ['classic-abba', 'shipped'],
  ['classic-lost-wakeup', 'shipped'],
  ['classic-atomicity', 'shipped'],
  ['seed000-nested-dma', 'shipped'],
  ['seed001-pci-config', 'shipped'],
  ['seed002-region-removal', 'shipped'],
  ['seed003-subchannel-clear-start', 'shipped'],
  ['seed003-vfio-regions', 'shipped'],
  ['seed004-iommu-invalidation', 'shipped'],
  ['smp-epoch-retire', 'shipped'],
];

export async function run(report: Report): Promise<void> {
  let first = true;
  for (const [name, variant] of REFERENCE) {
    const s = getScenario(name);
    if (!s) continue; // not registered yet
    await explore(s, variant, { strategy: 'pct', runs: 300, seed: 1 }); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await explore(s, variant, { strategy: 'pct', runs: 1000, seed: 1 + i });
      if (r.failure) throw new Error(`${name} (${variant}) failed in the benchmark: ${r.failure.message}`);
      samples.push((r.runs / r.elapsedMs) * 1000);
    }
    const v = round(median(samples), 0);
    if (first) report({ name: 'explore.schedules_per_s', value: v, unit: 'schedules/s' });
    first = false;
    report({ name: `explore.schedules_per_s.${name}`, value: v, unit: 'schedules/s' });
  }
  report({ name: 'explore.validator_lock_pair_ns', value: round(validatorPairNs(), 1), unit: 'ns' });
}

/** The validator's cost on real code's hot path: big lock + device mutex, uncontended, validation on. */
export function validatorPairNs(): number {
  const env = createRealmSyncEnv({ debugLocks: true });
  const big = new BigLock(env);
  const dev = new Mutex(env, 'dev');
  return timeNs(() => {
    big.lockSync();
    dev.lockSync();
    dev.unlock();
    big.unlock();
  }, 20000);
}
