import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../../src/machine/virt/virt.js';
import { memorySyncEnv, setMemorySyncEnv } from '../../src/memory/lifetime.js';
import type { DomainLocking } from '../../src/hw/pci/locking.js';
import { firmware } from '../helpers/firmware.js';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));
const MiB = 1024 * 1024;


/** Read the host bridge's vendor/device id through ECAM (takes the PCI domain and function locks), then power off. */
const ecamThenExit = `
  .text
  li t0, 0x30000000
  lw t2, 0(t0)
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
`;

test('tsvmm run --debug-locks is accepted: the guest runs, the validator checks the PCI locks, a summary goes to stderr', () => {
  const fw = firmware(ecamThenExit);
  const r = spawnSync(process.execPath, [bin, 'run', '--debug-locks', '-bios', fw, '-serial', 'none'], { encoding: 'utf8', timeout: 60_000, input: '' });
  assert.equal(r.status, 0, r.stderr);
  const m = /--debug-locks: (\d+) lock dependencies recorded, (\d+) reports/.exec(r.stderr);
  assert.ok(m, `no summary on stderr:\n${r.stderr}`);
  assert.ok(Number(m[1]) >= 1, 'the ECAM read took the domain lock, then the function lock');
  assert.equal(Number(m[2]), 0, r.stderr);
  // Without the flag nothing is said.
  const quiet = spawnSync(process.execPath, [bin, 'run', '-bios', fw, '-serial', 'none'], { encoding: 'utf8', timeout: 60_000, input: '' });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /debug-locks/);
});

test('with debugLocks the machine\'s locks are validated and lock-order reports are printed on stderr', () => {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  const saved = setMemorySyncEnv(null);
  try {
    const m = new VirtMachine({ ramSize: 16 * MiB, smp: 1, clock: { kind: 'virtual', nsPerInsn: 1 }, debugLocks: true });
    assert.equal(m.syncEnv.validator.enabled, true);
    assert.equal(memorySyncEnv(), m.syncEnv, 'regions and devices built from now on use the machine\'s env');
    assert.equal(m.syncEnv.debug, true, 'the use-after-removal detector is on too');
    const bus = m.gpex.bus;
    // The normal order: a config read takes the domain lock, then the function's lock.
    assert.equal(bus.configRead(0, 0, 2), 0x1b36);
    assert.equal(lines.length, 0, lines.join(''));
    // Inverted: code holding a function lock does a config access (domain lock after function lock).
    const fnLock = (bus.locking as DomainLocking).functionLockFactory(m.gpex.root);
    fnLock.lockSync();
    try {
      bus.configRead(0, 0, 2);
    } finally {
      fnLock.unlock();
    }
    const text = lines.join('');
    assert.match(text, /pci-domain/);
    assert.match(text, /pci-function/);
    assert.ok(m.syncEnv.validator.reports.length >= 1);
  } finally {
    process.stderr.write = write;
    setMemorySyncEnv(saved);
  }
});
