import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifetime } from '../../src/sync/lifetime.js';
import { SelfWaitError } from '../../src/sync/errors.js';
import { makeEnv } from './helpers.js';
import { createRealmSyncEnv } from '../../src/sync/env.js';

test('removal with nothing in flight completes at once', async () => {
  const { env } = makeEnv();
  const lt = new Lifetime(env, 'uart');
  assert.equal(lt.tryEnter(), true);
  lt.exit();
  const c = lt.remove();
  assert.equal(c.done, true);
  assert.equal(c.deferred, false);
  assert.equal(lt.state, 'removed');
  await c.wait();
  assert.equal(lt.tryEnter(), false);
  assert.equal(lt.remove(), c, 'remove is idempotent');
});

test('removal waits for in-flight accesses of other tasks and refuses new ones', () => {
  const { env, t } = makeEnv();
  const lt = new Lifetime(env, 'nic');
  t.as(1, () => assert.equal(lt.tryEnter(), true));
  const c = lt.remove();
  let called = 0;
  c.onDone(() => called++);
  assert.equal(c.done, false);
  assert.equal(c.deferred, false);
  assert.equal(lt.state, 'removing');
  assert.equal(lt.tryEnter(), false, 'no new access once removal started');
  assert.equal(lt.check('still draining'), true);
  t.as(1, () => lt.exit());
  assert.equal(c.done, true);
  assert.equal(called, 1);
  assert.equal(lt.state, 'removed');
});

test('removal requested from inside its own access is deferred, and waiting on it from there is refused', async () => {
  const { env } = makeEnv();
  const lt = new Lifetime(env, 'hotplug-dev');
  assert.equal(lt.tryEnter(), true);
  const c = lt.remove();
  assert.equal(c.deferred, true);
  assert.equal(c.done, false);
  await assert.rejects(c.wait(), SelfWaitError);
  lt.exit();
  assert.equal(c.done, true);
  await c.wait();
});

test('use after removal is reported in debug mode only, once', () => {
  {
    const { env, hazards } = makeEnv(1, true);
    const lt = new Lifetime(env, 'blk');
    lt.remove();
    assert.equal(lt.check('blk.read'), false);
    assert.equal(lt.check('blk.read'), false);
    assert.equal(hazards.length, 1);
    assert.match(hazards[0]!, /use after removal: blk touched at blk\.read/);
  }
  {
    const { env, hazards } = makeEnv(1, false);
    const lt = new Lifetime(env, 'blk');
    lt.remove();
    assert.equal(lt.check('blk.read'), false);
    assert.equal(hazards.length, 0);
  }
});

test('exit without enter is an error', () => {
  const { env } = makeEnv();
  const lt = new Lifetime(env, 'x');
  assert.throws(() => lt.exit(), /without a matching tryEnter/);
});

test('in a realm (one task) the same rules hold without per-task bookkeeping', async () => {
  const env = createRealmSyncEnv({ debug: true, log: () => {} });
  const lt = new Lifetime(env, 'uart');
  assert.equal(lt.tryEnter(), true);
  assert.equal(lt.tryEnter(), true);
  const c = lt.remove();
  assert.equal(c.deferred, true);
  await assert.rejects(c.wait(), SelfWaitError);
  lt.exit();
  assert.equal(c.done, false);
  lt.exit();
  assert.equal(c.done, true);
  assert.throws(() => lt.exit(), /without a matching tryEnter/);
});
