import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assembleFile, describe, makeMachine, runGuest } from './guest.js';

const dir = fileURLToPath(new URL('./asm/', import.meta.url));

// smp-*.S are multi-hart programs run by test/machine/smp (they need its NHARTS/ITERS symbols).
for (const name of readdirSync(dir).filter((n) => n.endsWith('.S') && !n.startsWith('smp-')).sort()) {
  test(`guest program ${name} passes`, () => {
    const m = makeMachine(assembleFile(name));
    const code = runGuest(m);
    assert.equal(describe(code, m), 'pass');
  });
}
