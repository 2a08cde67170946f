import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/tsvmm', import.meta.url));
const explore = (...args: string[]) => spawnSync(process.execPath, [bin, 'explore', ...args], { encoding: 'utf8' });

test('explore --list lists the scenarios', () => {
  const r = explore('--list');
  assert.equal(r.status, 0);
  for (const n of ['classic-lost-wakeup', 'classic-abba', 'classic-atomicity']) assert.match(r.stdout, new RegExp(n));
});

test('a failure exits 1 with a replay line, and --replay reproduces it', () => {
  const r = explore('classic-atomicity', '--variant', 'naive', '--strategy', 'pct', '--depth', '3', '--runs', '2000', '--seed', '5');
  assert.equal(r.status, 1, r.stderr);
  const m = /^replay: (s1:\S*)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.match(r.stdout, /buffer used after it was retired/);
  const again = explore('classic-atomicity', '--variant', 'naive', '--replay', m[1]!);
  assert.equal(again.status, 1);
  assert.match(again.stdout, new RegExp(`replay: ${m[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.match(again.stdout, /buffer used after it was retired/);
});

test('nothing found exits 0', () => {
  const r = explore('classic-atomicity', '--variant', 'shipped', '--strategy', 'dfs', '--preemptions', '2');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok: .*every schedule within the bound explored/m);
  const b1 = explore('classic-atomicity', '--variant', 'naive', '--strategy', 'dfs', '--preemptions', '1');
  assert.equal(b1.status, 0);
});

test('usage errors exit 2 with a clear message', () => {
  const cases: [string[], RegExp][] = [
    [['no-such-scenario', '--variant', 'naive', '--strategy', 'pct'], /unknown scenario 'no-such-scenario'/],
    [['classic-abba', '--variant', 'naive', '--strategy', 'bfs'], /unknown strategy 'bfs'/],
    [['classic-abba', '--variant', 'weird', '--strategy', 'pct'], /no variant 'weird'/],
    [['classic-abba', '--variant', 'naive', '--replay', 'garbage'], /malformed replay string/],
    [['classic-abba', '--variant', 'naive', '--replay', 's1:7x3'], /does not fit/],
    [['classic-abba', '--variant', 'shipped', '--replay', 's1:0x3@00000000'], /another scenario or variant/],
    [['classic-abba', '--variant', 'naive', '--strategy', 'pct', '--runs', 'many'], /--runs needs/],
    [['classic-abba', '--strategy', 'pct'], /missing --variant/],
    [['classic-abba', '--variant', 'naive', '--frob'], /unknown option/],
    [[], /no scenario given/],
  ];
  for (const [args, re] of cases) {
    const r = explore(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
});
