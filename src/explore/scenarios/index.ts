/**
 * The scenario registry. To add a scenario, write a module exporting a
 * Scenario (see ../scenario.ts and docs/concurrency.md) and add it to the list.
 */
import type { Scenario } from '../scenario.js';
import { abba } from './classic/abba.js';
import { atomicity } from './classic/atomicity.js';
import { lostWakeup } from './classic/lost-wakeup.js';
import { seed001PciConfig } from './seed001-pci-config.js';
import { seed002RegionRemoval } from './seed002-region-removal.js';
import { seed000NestedDma } from './seed000-nested-dma.js';
import { seed003SubchannelClearStart, seed003VfioRegions } from './seed003-subchannel-clear-start.js';
import { seed004IommuInvalidation } from './seed004-iommu-invalidation.js';
import { smpEpochRetire } from './smp-epoch-retire.js';

const SCENARIOS: readonly Scenario[] = [lostWakeup, abba, atomicity, seed000NestedDma, seed001PciConfig, seed002RegionRemoval, seed003SubchannelClearStart, seed003VfioRegions, seed004IommuInvalidation, smpEpochRetire];

export function listScenarios(): readonly Scenario[] {
  return SCENARIOS;
}

export function getScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
