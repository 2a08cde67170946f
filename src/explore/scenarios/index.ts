/**
 * The scenario registry. To add a scenario, write a module exporting a
 * Scenario (see ../scenario.ts and docs/concurrency.md) and add it to the list.
 */
import type { Scenario } from '../scenario.js';
import { abba } from './classic/abba.js';
import { atomicity } from './classic/atomicity.js';
import { lostWakeup } from './classic/lost-wakeup.js';

const SCENARIOS: readonly Scenario[] = [lostWakeup, abba, atomicity];

export function listScenarios(): readonly Scenario[] {
  return SCENARIOS;
}

export function getScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
