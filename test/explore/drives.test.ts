/**
 * `drives` (what `tsvmm explore --list` prints) is true, and scenarios run
 * the machine's own mechanisms: a scenario module imports no scenario-local
 * module (only ../scenario.ts, ../realms.ts and naive policies from ../policies), declares
 * no implementation of a component interface and no lifetime tracker of its
 * own, and its shipped variant runs without any naive policy; no product
 * module (src/ outside src/explore) has a naive mode, flag or variant switch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { explore } from '../../src/explore/explorer.js';
import { policiesCreated } from '../../src/explore/policies/registry.js';
import { listScenarios } from '../../src/explore/scenarios/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = join(root, 'src');
const scenarioDir = join(src, 'explore/scenarios');

function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g)) out.push(normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
  return out;
}

function reachable(file: string): Set<string> {
  const seen = new Set<string>();
  const stack = [file];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f) || !existsSync(f)) continue;
    seen.add(f);
    stack.push(...importsOf(f));
  }
  return seen;
}

/** The scenario module that defines `name` (its `name: '...'` literal). */
function moduleOf(name: string): string {
  for (const f of walk(scenarioDir)) if (readFileSync(f, 'utf8').includes(`name: '${name}'`)) return f;
  throw new Error(`no module defines scenario ${name}`);
}

test('every module a scenario says it drives is real code the scenario reaches', () => {
  for (const s of listScenarios()) {
    if (!s.drives) continue;
    const from = reachable(moduleOf(s.name));
    for (const m of s.drives) {
      const p = join(src, m);
      assert.ok(existsSync(p), `${s.name}: drives ${m}, which does not exist`);
      assert.ok(from.has(p), `${s.name}: drives ${m}, which it never imports`);
    }
  }
});

test('seed scenarios declare what they drive', () => {
  for (const name of ['seed000-nested-dma', 'seed001-pci-config', 'seed002-region-removal', 'smp-epoch-retire']) {
    const s = listScenarios().find((x) => x.name === name);
    assert.ok(s?.drives && s.drives.length > 0, `${name} declares no production modules`);
  }
});

test('scenario modules carry no copy of a mechanism', () => {
  // Besides the scenario interface and the naive policies, scenarios may use the explorer's
  // wiring of hart realms (realms.ts), which is held to the same rules below.
  const realms = join(src, 'explore/realms.ts');
  const allowed = (p: string): boolean =>
    !p.startsWith(join(src, 'explore')) || p === join(src, 'explore/scenario.ts') || p === realms || p.startsWith(join(src, 'explore/policies/'));
  for (const f of [...walk(scenarioDir), realms]) {
    if (f.endsWith('index.ts')) continue;
    const rel = relative(root, f);
    for (const imp of importsOf(f)) assert.ok(allowed(imp), `${rel} imports scenario-local ${relative(root, imp)}`);
    const text = readFileSync(f, 'utf8');
    assert.doesNotMatch(text, /\bimplements\s/, `${rel} implements a component interface itself (naive policies belong in src/explore/policies)`);
    if (!rel.includes('/classic/')) assert.doesNotMatch(text, /sync\/lifetime\.js'/, `${rel} tracks lifetimes with a Lifetime of its own instead of the memory core's`);
  }
});

test("shipped variants run without any of the explorer's naive policies; naive ones that inject one do", async () => {
  for (const s of listScenarios()) {
    if (!s.variants.includes('shipped')) continue;
    const before = policiesCreated();
    await explore(s, 'shipped', { strategy: 'pct', runs: 3, seed: 1 });
    assert.equal(policiesCreated(), before, `${s.name} (shipped) built a naive policy`);
  }
  for (const name of ['seed001-pci-config', 'seed003-subchannel-clear-start', 'seed003-vfio-regions', 'seed004-iommu-invalidation']) {
    const before = policiesCreated();
    await explore(listScenarios().find((x) => x.name === name)!, 'naive', { strategy: 'pct', runs: 1, seed: 1 });
    assert.ok(policiesCreated() > before, `${name} (naive) injected no policy`);
  }
});

test('no product module knows of naive designs: no naive mode, flag or variant switch outside src/explore', () => {
  const explore = join(src, 'explore');
  // The explorer's command line names the scenarios' variants (--variant naive|shipped); it is the explorer's front end.
  const cli = join(src, 'cli/explore.ts');
  for (const f of walk(src)) {
    if (f.startsWith(explore + '/') || f === cli) continue;
    const text = readFileSync(f, 'utf8');
    const rel = relative(root, f);
    assert.doesNotMatch(text, /\bnaive\b/i, `${rel} mentions a naive design (naive designs are policies in src/explore/policies)`);
    assert.doesNotMatch(text, /\bvariant\s*===?\s*'(shipped|buggy|fixed)'/, `${rel} switches on a test variant`);
  }
});
