/**
 * An atomicity violation that needs exactly two preemptions: a publisher
 * publishes a buffer (x = 1) and later retires it (x = 2); a user checks that
 * the buffer is published and then uses it. It fails only if the check falls
 * between publish and retire AND the use falls after retire, so both tasks
 * must be preempted once: DFS finds it with preemption bound 2, never with 1.
 * The shipped version holds a mutex across check-and-use and around each
 * publisher step.
 */
import { Mutex } from '../../../sync/mutex.js';
import type { Scenario } from '../../scenario.js';

export const atomicity: Scenario = {
  name: 'classic-atomicity',
  description: 'check-then-use against publish-then-retire; the bug needs two preemptions',
  variants: ['naive', 'shipped'],
  drives: [],
  buggy: ['naive'],
  stepsHint: 10,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const m = new Mutex(env, 'buffer', { name: 'buffer.lock' });
    let x = 0;
    sched.spawn('publisher', 'iothread', async () => {
      if (naive) {
        await sched.yield('publish');
        x = 1;
        await sched.yield('retire');
        x = 2;
      } else {
        await m.lock({ site: 'publish' });
        x = 1;
        m.unlock();
        await m.lock({ site: 'retire' });
        x = 2;
        m.unlock();
      }
    });
    sched.spawn('user', 'vcpu', async () => {
      if (naive) {
        await sched.yield('check');
        if (x === 1) {
          await sched.yield('use');
          run.check(x === 1, 'buffer used after it was retired');
        }
      } else {
        await m.lock({ site: 'check and use' });
        if (x === 1) {
          await sched.yield('use');
          run.check(x === 1, 'buffer used after it was retired');
        }
        m.unlock();
      }
    });
  },
};
