import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mutex } from '../../src/sync/mutex.js';
import { RwLock } from '../../src/sync/rwlock.js';
import { BigLock } from '../../src/sync/big-lock.js';
import { LockContentionError, LockUsageError } from '../../src/sync/errors.js';
import { MASK_IRQ, maskContexts, restoreContexts } from '../../src/sync/context.js';
import { makeEnv } from './helpers.js';

test('AA: re-acquiring a held mutex is reported before it self-deadlocks', () => {
  const { env, reports } = makeEnv();
  const a = new Mutex(env, 'dev', { name: 'dev0' });
  a.lockSync({ site: 'outer' });
  assert.throws(() => a.lockSync({ site: 'inner' }), LockContentionError);
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.kind, 'AA');
  assert.match(reports[0]!.text, /recursive acquisition of dev0/);
  assert.equal(reports[0]!.closing.site, 'inner');
  assert.deepEqual(reports[0]!.held.map((h) => h.site), ['outer']);
});

test('ABBA from a single run without the deadlock happening; one report per cycle', () => {
  const { env, t, reports } = makeEnv();
  const a = new Mutex(env, 'A');
  const b = new Mutex(env, 'B');
  const ab = () => {
    a.lockSync({ site: 'f1:A' });
    b.lockSync({ site: 'f1:B' });
    b.unlock();
    a.unlock();
  };
  const ba = () => {
    b.lockSync({ site: 'f2:B' });
    a.lockSync({ site: 'f2:A' });
    a.unlock();
    b.unlock();
  };
  t.as(0, ab);
  assert.equal(reports.length, 0);
  t.as(1, ba);
  assert.equal(reports.length, 1);
  const r = reports[0]!;
  assert.equal(r.kind, 'cycle');
  assert.match(r.summary, /ABBA/);
  assert.deepEqual(r.edges.map((e) => `${e.from}->${e.to}@${e.heldSite}/${e.site}`), ['A->B@f1:A/f1:B', 'B->A@f2:B/f2:A']);
  assert.equal(r.closing.lock, a.name);
  assert.equal(r.closing.task, 't1');
  assert.deepEqual(r.held.map((h) => h.className), ['B']);
  // The same cycle again, by either task, is not reported twice.
  t.as(1, ba);
  t.as(0, ab);
  assert.equal(reports.length, 1);
});

for (const n of [3, 4]) {
  test(`${n}-cycle across ${n} tasks is reported with every edge`, () => {
    const { env, t, reports } = makeEnv(n);
    const locks = Array.from({ length: n }, (_, i) => new Mutex(env, `L${i}`));
    for (let i = 0; i < n; i++) {
      t.as(i, () => {
        const x = locks[i]!;
        const y = locks[(i + 1) % n]!;
        x.lockSync({ site: `t${i} outer` });
        y.lockSync({ site: `t${i} inner` });
        y.unlock();
        x.unlock();
      });
      assert.equal(reports.length, i === n - 1 ? 1 : 0);
    }
    const r = reports[0]!;
    assert.equal(r.kind, 'cycle');
    assert.equal(r.edges.length, n);
    assert.match(r.summary, new RegExp(`${n}-cycle`));
    assert.equal(new Set(r.classes).size, n);
  });
}

test('no report for a consistent order, however many times it is taken', () => {
  const { env, t, reports } = makeEnv(3);
  const locks = [new Mutex(env, 'A'), new Mutex(env, 'B'), new Mutex(env, 'C')];
  for (let i = 0; i < 3; i++)
    t.as(i, () => {
      for (const l of locks) l.lockSync();
      for (const l of [...locks].reverse()) l.unlock();
    });
  assert.equal(reports.length, 0);
  assert.equal(env.validator.edgeCount, 3);
});

test('rwlock: recursive read is allowed only where the policy declares it', () => {
  {
    const { env, reports } = makeEnv();
    const l = new RwLock(env, 'domain', { recursiveRead: true });
    l.readSync();
    l.readSync();
    l.unlock();
    l.unlock();
    assert.equal(reports.length, 0);
  }
  {
    const { env, reports } = makeEnv();
    const l = new RwLock(env, 'domain');
    l.readSync({ site: 'first read' });
    l.readSync({ site: 'second read' }); // succeeds now, but a waiting writer would deadlock it
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.kind, 'AA');
  }
  {
    const { env, reports } = makeEnv();
    const l = new RwLock(env, 'domain', { recursiveRead: true });
    l.writeSync();
    assert.throws(() => l.readSync(), LockContentionError);
    assert.equal(reports[0]!.kind, 'AA');
  }
});

test('rwlock: read/write inversion is caught; recursive readers on both sides are not a deadlock', () => {
  for (const [recursive, writer, expect] of [
    [true, true, 1], // T1: read(L) -> M, T2: M -> write(L)
    [false, false, 1], // non-recursive readers: a waiting writer can block T2's read
    [true, false, 0], // recursive readers: T2's read gets in past T1's read
  ] as const) {
    const { env, t, reports } = makeEnv();
    const l = new RwLock(env, 'L', { recursiveRead: recursive });
    const m = new Mutex(env, 'M');
    t.as(0, () => {
      l.readSync({ site: 't0 read L' });
      m.lockSync({ site: 't0 M' });
      m.unlock();
      l.unlock();
    });
    t.as(1, () => {
      m.lockSync({ site: 't1 M' });
      if (writer) l.writeSync({ site: 't1 write L' });
      else l.readSync({ site: 't1 read L' });
      l.unlock();
      m.unlock();
    });
    assert.equal(reports.length, expect, `recursive=${recursive} writer=${writer}`);
    if (expect) assert.equal(reports[0]!.kind, 'cycle');
  }
});

test('rwlock: writers exclude readers and each other; trylocks report availability', () => {
  const { env, t } = makeEnv();
  const l = new RwLock(env, 'L');
  t.as(0, () => l.readSync());
  t.as(1, () => assert.throws(() => l.writeSync(), LockContentionError));
  t.as(1, () => assert.equal(l.tryWrite(), false));
  t.as(1, () => assert.equal(l.tryRead(), true));
  t.as(1, () => l.unlockRead());
  t.as(0, () => l.unlockRead());
  t.as(1, () => assert.equal(l.tryWrite(), true));
  t.as(0, () => assert.equal(l.tryRead(), false));
});

test('trylock adds no incoming edge, but a lock taken by trylock orders what follows', () => {
  {
    const { env, t, reports } = makeEnv();
    const a = new Mutex(env, 'A');
    const b = new Mutex(env, 'B');
    t.as(0, () => {
      a.lockSync();
      assert.equal(b.tryLock(), true);
      b.unlock();
      a.unlock();
    });
    t.as(1, () => {
      b.lockSync();
      a.lockSync();
      a.unlock();
      b.unlock();
    });
    assert.equal(reports.length, 0);
  }
  {
    const { env, t, reports } = makeEnv();
    const a = new Mutex(env, 'A');
    const b = new Mutex(env, 'B');
    t.as(0, () => {
      assert.equal(a.tryLock(), true);
      b.lockSync();
      b.unlock();
      a.unlock();
    });
    t.as(1, () => {
      b.lockSync();
      a.lockSync();
      a.unlock();
      b.unlock();
    });
    assert.equal(reports.length, 1);
  }
});

test('same-class nesting: reported unless annotated by subclass, nest lock or increasing order key', () => {
  {
    const { env, reports } = makeEnv();
    const d1 = new Mutex(env, 'pci.dev', { name: 'dev1' });
    const d2 = new Mutex(env, 'pci.dev', { name: 'dev2' });
    d1.lockSync();
    d2.lockSync();
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.kind, 'AA');
    assert.match(reports[0]!.text, /same class pci\.dev/);
  }
  {
    const { env, reports } = makeEnv();
    const d1 = new Mutex(env, 'pci.dev');
    const d2 = new Mutex(env, 'pci.dev');
    d1.lockSync();
    d2.lockSync({ subclass: 1 });
    assert.equal(reports.length, 0);
  }
  {
    const { env, reports } = makeEnv();
    const bus = new Mutex(env, 'pci.bus');
    const d1 = new Mutex(env, 'pci.dev');
    const d2 = new Mutex(env, 'pci.dev');
    bus.lockSync();
    d1.lockSync({ nestLock: bus });
    d2.lockSync({ nestLock: bus });
    assert.equal(reports.length, 0);
    d2.unlock();
    d1.unlock();
    bus.unlock();
    // Without the nest lock held, the annotation does not apply.
    d1.lockSync();
    d2.lockSync({ nestLock: bus });
    assert.equal(reports.length, 1);
  }
  {
    const { env, reports } = makeEnv();
    const a = new Mutex(env, 'pci.dev', { name: '00:01.0', orderKey: [0, 1, 0] });
    const b = new Mutex(env, 'pci.dev', { name: '00:02.0', orderKey: [0, 2, 0] });
    a.lockSync();
    b.lockSync();
    assert.equal(reports.length, 0);
    b.unlock();
    a.unlock();
    b.lockSync();
    a.lockSync({ site: 'wrong order' });
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.kind, 'order');
    assert.match(reports[0]!.text, /order keys must increase/);
  }
});

test('context rules: a lock used in interrupt context must not be taken with interrupts enabled', () => {
  const { env, t, reports } = makeEnv();
  const l = new Mutex(env, 'plic');
  const task = t.all[0]!;
  // Taken in irq context...
  task.context = 'irq';
  l.lockSync({ site: 'irq handler' });
  l.unlock();
  task.context = 'process';
  assert.equal(reports.length, 0);
  // ... and in process context with irq masked: fine.
  const prev = maskContexts(task, MASK_IRQ);
  l.lockSync();
  l.unlock();
  restoreContexts(task, prev);
  assert.equal(reports.length, 0);
  // ... and with irq enabled: the irq could preempt the holder and spin on it.
  l.lockSync({ site: 'vcpu mmio' });
  l.unlock();
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.kind, 'context');
  assert.match(reports[0]!.text, /used in irq context at irq handler/);
  assert.match(reports[0]!.text, /taken with irq enabled at vcpu mmio/);
});

test('context rules: bottom-half and timer locks vs process context, in either order', () => {
  for (const ctx of ['bh', 'timer'] as const) {
    const { env, t, reports } = makeEnv();
    const l = new Mutex(env, `${ctx}-lock`);
    l.lockSync({ site: 'process first' });
    l.unlock();
    assert.equal(reports.length, 0);
    t.all[1]!.context = ctx;
    t.as(1, () => {
      l.lockSync({ site: `${ctx} callback` });
      l.unlock();
    });
    assert.equal(reports.length, 1, ctx);
    assert.equal(reports[0]!.kind, 'context');
  }
  // A lock used only from bh and process-with-bh-masked contexts is fine;
  // bh does not preempt irq context.
  const { env, t, reports } = makeEnv();
  const l = new Mutex(env, 'bh-only');
  t.all[0]!.context = 'bh';
  l.lockSync();
  l.unlock();
  t.all[1]!.context = 'irq';
  t.as(1, () => {
    l.lockSync();
    l.unlock();
  });
  // used in irq, and taken in bh with irq enabled: reported.
  assert.equal(reports.length, 1);
});

test('double unlock and unlock of a lock not held are errors and reports', () => {
  const { env, t, reports } = makeEnv();
  const a = new Mutex(env, 'A', { name: 'A' });
  a.lockSync();
  a.unlock();
  assert.throws(() => a.unlock(), (e: unknown) => e instanceof LockUsageError && e.kind === 'double-unlock');
  const b = new Mutex(env, 'B', { name: 'B' });
  assert.throws(() => b.unlock(), (e: unknown) => e instanceof LockUsageError && e.kind === 'not-held');
  t.as(1, () => b.lockSync());
  assert.throws(() => b.unlock(), (e: unknown) => e instanceof LockUsageError && e.kind === 'held-by-other');
  assert.deepEqual(
    reports.map((r) => r.kind),
    ['unlock', 'unlock', 'unlock'],
  );
  assert.match(reports[0]!.summary, /double unlock: A/);
  assert.match(reports[1]!.summary, /unlock of a lock not held: B/);
  const rw = new RwLock(env, 'R');
  assert.throws(() => rw.unlockRead(), LockUsageError);
  assert.throws(() => rw.unlockWrite(), LockUsageError);
});

test('big lock: recursive with a per-task depth, held/not-held assertions', () => {
  const { env, t, reports } = makeEnv();
  const big = new BigLock(env);
  big.assertNotHeld();
  big.lockSync();
  big.lockSync();
  assert.equal(big.depth, 2);
  big.assertHeld();
  t.as(1, () => {
    assert.equal(big.depth, 0);
    assert.throws(() => big.assertHeld(), LockUsageError);
    assert.throws(() => big.lockSync(), LockContentionError);
    assert.equal(big.tryLock(), false);
  });
  big.unlock();
  big.assertHeld();
  big.unlock();
  big.assertNotHeld();
  assert.throws(() => big.unlock(), LockUsageError);
  assert.equal(reports.filter((r) => r.kind !== 'unlock').length, 0);
});

test('the validator can be disabled and re-enabled', () => {
  const { env, t, reports } = makeEnv();
  env.validator.disable();
  const a = new Mutex(env, 'A');
  const b = new Mutex(env, 'B');
  t.as(0, () => (a.lockSync(), b.lockSync(), b.unlock(), a.unlock()));
  t.as(1, () => (b.lockSync(), a.lockSync(), a.unlock(), b.unlock()));
  assert.equal(reports.length, 0);
  env.validator.enable();
  t.as(0, () => (a.lockSync(), b.lockSync(), b.unlock(), a.unlock()));
  t.as(1, () => (b.lockSync(), a.lockSync(), a.unlock(), b.unlock()));
  assert.equal(reports.length, 1);
});

test('repeating the same lock order adds no dependencies and no reports (the steady state is lookups only)', () => {
  // The cost itself is a benchmark (explore.validator_lock_pair_ns); here: nothing accumulates per acquisition.
  const { env, reports } = makeEnv();
  const big = new BigLock(env);
  const dev = new Mutex(env, 'dev');
  big.lockSync();
  dev.lockSync();
  dev.unlock();
  big.unlock();
  const edges = env.validator.edgeCount;
  for (let i = 0; i < 20000; i++) {
    big.lockSync();
    dev.lockSync();
    dev.unlock();
    big.unlock();
  }
  assert.equal(env.validator.edgeCount, edges);
  assert.equal(reports.length, 0);
});

test('context rules along dependencies: an irq-safe lock held while waiting for an irq-unsafe one', () => {
  // Three orders of discovery: edge last, irq usage last, unsafe usage last.
  const orders = [
    ['irq', 'unsafe', 'edge'],
    ['edge', 'unsafe', 'irq'],
    ['irq', 'edge', 'unsafe'],
  ] as const;
  for (const order of orders) {
    const { env, t, reports } = makeEnv();
    const a = new Mutex(env, 'A');
    const b = new Mutex(env, 'B');
    const task = t.all[0]!;
    const steps = {
      irq: () => {
        task.context = 'irq';
        a.lockSync({ site: 'irq handler takes A' });
        a.unlock();
        task.context = 'process';
      },
      edge: () => {
        const prev = maskContexts(task, MASK_IRQ);
        a.lockSync({ site: 'A with irq off' });
        b.lockSync({ site: 'then B' });
        b.unlock();
        a.unlock();
        restoreContexts(task, prev);
      },
      unsafe: () => {
        b.lockSync({ site: 'B with irq on' });
        b.unlock();
      },
    };
    for (const s of order) steps[s]();
    assert.equal(reports.length, 1, order.join(','));
    assert.equal(reports[0]!.kind, 'context');
    assert.match(reports[0]!.summary, /irq-safe -> irq-unsafe lock order: A .* B/);
  }
  // No report when B is never taken with irq enabled.
  const { env, t, reports } = makeEnv();
  const a = new Mutex(env, 'A');
  const b = new Mutex(env, 'B');
  const task = t.all[0]!;
  task.context = 'irq';
  a.lockSync();
  b.lockSync();
  b.unlock();
  a.unlock();
  assert.equal(reports.length, 0);
});
