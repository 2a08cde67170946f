// The virt machine picks its harts' translation threshold from the host's
// cores and the host threads its harts keep busy (jit/thresholds.ts hotThreshold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOT_THRESHOLD, SPARE_CORE_THRESHOLD, THREAD_THRESHOLD, hotThreshold } from '../../../src/cpu/riscv/jit/thresholds.js';
import { nodeHost } from '../../../src/host/node.js';
import { VirtMachine } from '../../../src/machine/virt/virt.js';

const MiB = 1024 * 1024;

test('a core to spare lowers the threshold; busy cores keep the default', () => {
  assert.ok(SPARE_CORE_THRESHOLD < HOT_THRESHOLD);
  assert.equal(hotThreshold(2, 1), SPARE_CORE_THRESHOLD);
  assert.equal(hotThreshold(2, 2), HOT_THRESHOLD);
  assert.equal(hotThreshold(1, 1), HOT_THRESHOLD);
  assert.equal(hotThreshold(8, 2), SPARE_CORE_THRESHOLD);
});

test('virt: harts on the main realm count as one busy thread, hart realms as one each', () => {
  const thresholdOf = (cpus: number, smp: number, threads: 'single' | 'multi'): number[] => {
    const m = new VirtMachine({ ramSize: 16 * MiB, smp, threads, translate: true, host: { ...nodeHost, cpus } });
    return m.harts.map((h) => h.jitHot);
  };
  assert.deepEqual(thresholdOf(2, 1, 'single'), [SPARE_CORE_THRESHOLD]);
  assert.deepEqual(thresholdOf(1, 1, 'single'), [HOT_THRESHOLD]);
  assert.deepEqual(thresholdOf(2, 2, 'single'), [SPARE_CORE_THRESHOLD, SPARE_CORE_THRESHOLD]);
  assert.deepEqual(thresholdOf(2, 2, 'multi'), [HOT_THRESHOLD, HOT_THRESHOLD]);
  assert.deepEqual(thresholdOf(4, 2, 'multi'), [SPARE_CORE_THRESHOLD, SPARE_CORE_THRESHOLD]);
});

test('virt: one hart counts entries to the threaded threshold first; harts sharing counters do not', () => {
  const wantedAt = (smp: number, threaded?: boolean): number[] => {
    const m = new VirtMachine({ ramSize: 16 * MiB, smp, threads: 'single', translate: true, threaded, host: { ...nodeHost, cpus: 2 } });
    return m.harts.map((h) => h.jitThreshold);
  };
  assert.deepEqual(wantedAt(1), [THREAD_THRESHOLD]);
  assert.deepEqual(wantedAt(1, false), [SPARE_CORE_THRESHOLD]);
  assert.deepEqual(wantedAt(2), [SPARE_CORE_THRESHOLD, SPARE_CORE_THRESHOLD]);
});
