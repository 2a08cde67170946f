import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assembleFile, describe, makeMachine, runGuest } from './guest.js';

const dir = fileURLToPath(new URL('./asm/', import.meta.url));

for (const name of readdirSync(dir).filter((n) => n.endsWith('.S')).sort()) {
  test(`guest program ${name} passes`, () => {
    const m = makeMachine(assembleFile(name));
    const code = runGuest(m);
    assert.equal(describe(code, m), 'pass');
  });
}
