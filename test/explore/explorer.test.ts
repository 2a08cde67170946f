import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore, type ExploreOptions } from '../../src/explore/explorer.js';
import { getScenario, listScenarios } from '../../src/explore/scenarios/index.js';
import type { Scenario } from '../../src/explore/scenario.js';
import { decodeSchedule, encodeSchedule, ReplayFormatError } from '../../src/explore/replay.js';
import { Mutex } from '../../src/sync/mutex.js';
import { RwLock } from '../../src/sync/rwlock.js';
import { Lifetime } from '../../src/sync/lifetime.js';

function scenario(name: string): Scenario {
  const s = getScenario(name);
  assert.ok(s, name);
  return s;
}

const classic = ['classic-lost-wakeup', 'classic-abba', 'classic-atomicity'];

for (const name of classic) {
  for (const strategy of ['random', 'pct', 'dfs'] as const) {
    test(`${name}: ${strategy} finds the naive bug and passes the shipped version`, async () => {
      const opts: ExploreOptions = { strategy, runs: 500, seed: 7, depth: 3, preemptions: 2 };
      const bad = await explore(scenario(name), 'naive', opts);
      assert.ok(bad.failure, `naive not caught by ${strategy}`);
      assert.match(bad.failure.replay, /^s1:/);
      const good = await explore(scenario(name), 'shipped', opts);
      assert.equal(good.failure, null, good.failure?.message);
      if (strategy === 'dfs') assert.equal(good.exhausted, true);
    });
  }
}

test('lost wakeup is reported as a deadlock naming what each task waits on', async () => {
  const r = await explore(scenario('classic-lost-wakeup'), 'naive', { strategy: 'dfs', preemptions: 1 });
  assert.equal(r.failure?.kind, 'deadlock');
  assert.ok(r.failure.tasks.some((l) => /consumer .*blocked on condvar queue\.nonempty/.test(l)));
  assert.ok(r.failure.tasks.some((l) => /producer .*done/.test(l)));
});

test('ABBA: the validator reports it from one run; without it, the explorer finds the real deadlock', async () => {
  const withLockdep = await explore(scenario('classic-abba'), 'naive', { strategy: 'dfs' });
  assert.equal(withLockdep.failure?.kind, 'lockdep');
  assert.equal(withLockdep.failure.run, 0);
  assert.match(withLockdep.failure.message, /ABBA/);
  const without = await explore(scenario('classic-abba'), 'naive', { strategy: 'dfs', lockdep: false });
  assert.equal(without.failure?.kind, 'deadlock');
  assert.ok(without.failure.tasks.some((l) => /t1 .*blocked on mutex B held by t2/.test(l)));
  assert.ok(without.failure.tasks.some((l) => /t2 .*blocked on mutex A held by t1/.test(l)));
});

test('the atomicity violation needs exactly two preemptions: DFS bound 1 exhausts clean, bound 2 finds it', async () => {
  const b1 = await explore(scenario('classic-atomicity'), 'naive', { strategy: 'dfs', preemptions: 1, runs: 100000 });
  assert.equal(b1.failure, null);
  assert.equal(b1.exhausted, true);
  const b2 = await explore(scenario('classic-atomicity'), 'naive', { strategy: 'dfs', preemptions: 2, runs: 100000 });
  assert.equal(b2.failure?.kind, 'invariant');
  assert.match(b2.failure.message, /used after it was retired/);
});

test('replay strings reproduce the failure exactly', async () => {
  for (const name of classic) {
    for (const strategy of ['random', 'pct'] as const) {
      const lockdep = name !== 'classic-abba';
      const r = await explore(scenario(name), 'naive', { strategy, runs: 2000, seed: 3, lockdep });
      assert.ok(r.failure);
      const again = await explore(scenario(name), 'naive', { strategy, replay: r.failure.replay, lockdep });
      assert.equal(again.runs, 1);
      assert.equal(again.failure?.kind, r.failure.kind);
      assert.equal(again.failure.message, r.failure.message);
      assert.equal(again.failure.replay, r.failure.replay);
      assert.deepEqual(again.failure.tasks, r.failure.tasks);
    }
  }
});

test('the same seed gives the same result twice', async () => {
  for (const strategy of ['random', 'pct'] as const) {
    for (const seed of [1, 99, 12345]) {
      const a = await explore(scenario('classic-atomicity'), 'naive', { strategy, seed, runs: 3000 });
      const b = await explore(scenario('classic-atomicity'), 'naive', { strategy, seed, runs: 3000 });
      assert.equal(a.failure?.run, b.failure?.run);
      assert.equal(a.failure?.replay, b.failure?.replay);
      assert.equal(a.totalSteps, b.totalSteps);
    }
  }
});

test('a scenario that exceeds its step budget is a livelock with a replay string', async () => {
  const spin: Scenario = {
    name: 'spin',
    description: 'waits for a flag nobody sets, by polling',
    variants: ['naive'],
    buggy: ['naive'],
    maxSteps: 200,
    setup(run) {
      const flag = false;
      run.sched.spawn('poller', 'vcpu', async () => {
        while (!flag) await run.sched.yield('poll');
      });
    },
  };
  const r = await explore(spin, 'naive', { strategy: 'random', runs: 3 });
  assert.equal(r.failure?.kind, 'livelock');
  assert.equal(r.failure.steps, 200);
  assert.deepEqual(decodeSchedule(r.failure.replay), new Array(200).fill(0));
});

test('a task awaiting something the scheduler does not control is reported, not hung', async () => {
  const escape: Scenario = {
    name: 'escape',
    description: 'awaits a host timer',
    variants: ['naive'],
    buggy: ['naive'],
    setup(run) {
      run.sched.spawn('sleeper', 'iothread', async () => {
        await run.sched.yield('before');
        await new Promise((r) => setTimeout(r, 5));
      });
    },
  };
  const r = await explore(escape, 'naive', { strategy: 'random', runs: 1 });
  assert.equal(r.failure?.kind, 'uncontrolled-await');
});

test('a waiting writer blocks a non-recursive re-read: a real deadlock the explorer finds', async () => {
  const s: Scenario = {
    name: 'rw-reread',
    description: 'reader re-reads while a writer waits',
    variants: ['naive', 'shipped'],
    buggy: ['naive'],
    setup(run) {
      const l = new RwLock(run.env, 'domain', { recursiveRead: run.variant === 'shipped' });
      run.sched.spawn('reader', 'vcpu', async () => {
        await l.read();
        await run.sched.yield('between reads');
        await l.read();
        l.unlock();
        l.unlock();
      });
      run.sched.spawn('writer', 'vcpu', async () => {
        await l.write();
        l.unlock();
      });
    },
  };
  const naive = await explore(s, 'naive', { strategy: 'dfs', lockdep: false });
  assert.equal(naive.failure?.kind, 'deadlock');
  const shipped = await explore(s, 'shipped', { strategy: 'dfs' });
  assert.equal(shipped.failure, null);
  assert.equal(shipped.exhausted, true);
  // With validation on, the naive nesting is reported from any run.
  const lockdep = await explore(s, 'naive', { strategy: 'random', runs: 5 });
  assert.equal(lockdep.failure?.kind, 'lockdep');
});

test('lifetimes in the explorer: removal waits for dispatch to drain; skipping tryEnter is a use after removal', async () => {
  const s: Scenario = {
    name: 'removal',
    description: 'dispatch vs removal',
    variants: ['naive', 'shipped'],
    buggy: ['naive'],
    setup(run) {
      const lt = new Lifetime(run.env, 'dev');
      let freed = false;
      run.sched.spawn('vcpu', 'vcpu', async () => {
        if (run.variant === 'shipped') {
          if (!lt.tryEnter()) return;
          await run.sched.yield('in handler');
          run.check(!freed, 'handler ran on freed state');
          lt.exit();
        } else {
          await run.sched.yield('looked up');
          lt.check('handler');
          run.check(!freed, 'handler ran on freed state');
        }
      });
      run.sched.spawn('unplug', 'main', async () => {
        const c = lt.remove();
        await c.wait();
        freed = true;
      });
    },
  };
  const naive = await explore(s, 'naive', { strategy: 'dfs' });
  assert.equal(naive.failure?.kind, 'use-after-removal');
  const shipped = await explore(s, 'shipped', { strategy: 'dfs' });
  assert.equal(shipped.failure, null);
  assert.equal(shipped.exhausted, true);
});

test('mutexes block simulated tasks in the explorer and hand over on unlock', async () => {
  const s: Scenario = {
    name: 'counter',
    description: 'two increments under a mutex',
    variants: ['shipped'],
    buggy: [],
    setup(run) {
      const m = new Mutex(run.env, 'ctr');
      let n = 0;
      for (const name of ['a', 'b', 'c'])
        run.sched.spawn(name, 'vcpu', async () => {
          await m.lock();
          const v = n;
          await run.sched.yield('read');
          n = v + 1;
          m.unlock();
        });
      return { finish: () => run.check(n === 3, `lost update: ${n}`) };
    },
  };
  const r = await explore(s, 'shipped', { strategy: 'dfs', preemptions: 3, runs: 100000 });
  assert.equal(r.failure, null);
  assert.equal(r.exhausted, true);
  assert.ok(r.runs > 10);
});

test('replay strings: encode/decode round-trip and malformed input', () => {
  const c = [0, 0, 0, 1, 2, 2, 0];
  assert.equal(encodeSchedule(c), 's1:0x3-1-2x2-0');
  assert.deepEqual(decodeSchedule('s1:0x3-1-2x2-0'), c);
  assert.deepEqual(decodeSchedule('s1:'), []);
  assert.equal(encodeSchedule(c, 'deadbeef'), 's1:0x3-1-2x2-0@deadbeef');
  assert.deepEqual(decodeSchedule('s1:0x3-1-2x2-0@deadbeef'), c);
  for (const bad of ['', 'x', 's2:0', 's1:a', 's1:0x', 's1:0x0', 's1:1--2', 's1:0x99999999999', 's1:0@xyz', 's1:0@1234'])
    assert.throws(() => decodeSchedule(bad), ReplayFormatError, bad);
});

test('a replay string recorded on one scenario or variant is refused by another', async () => {
  const r = await explore(scenario('classic-atomicity'), 'naive', { strategy: 'dfs' });
  assert.ok(r.failure);
  assert.match(r.failure.replay, /@[0-9a-f]{8}$/);
  await assert.rejects(explore(scenario('classic-atomicity'), 'shipped', { strategy: 'dfs', replay: r.failure.replay }), /another scenario or variant/);
  await assert.rejects(explore(scenario('classic-abba'), 'naive', { strategy: 'dfs', replay: r.failure.replay }), /another scenario or variant/);
  // Without the tag, the schedule alone is accepted.
  const bare = r.failure.replay.replace(/@.*$/, '');
  const again = await explore(scenario('classic-atomicity'), 'naive', { strategy: 'dfs', replay: bare });
  assert.equal(again.failure?.message, r.failure.message);
});

test('every registered scenario has a unique name and naive/shipped variants', () => {
  const names = listScenarios().map((s) => s.name);
  assert.equal(new Set(names).size, names.length);
  for (const s of listScenarios()) for (const b of s.buggy) assert.ok(s.variants.includes(b));
});
