/**
 * ABBA: two tasks take two mutexes in opposite orders. The validator reports
 * the cycle from any single run in which both orders occur; with validation
 * off, the explorer finds the real deadlock. The shipped version takes them
 * in one order.
 */
import { Mutex } from '../../../sync/mutex.js';
import type { Scenario } from '../../scenario.js';

export const abba: Scenario = {
  name: 'classic-abba',
  description: 'two tasks take locks A and B in opposite orders',
  variants: ['naive', 'shipped'],
  drives: [],
  buggy: ['naive'],
  stepsHint: 10,
  setup(run) {
    const { env, sched } = run;
    const a = new Mutex(env, 'A', { name: 'A' });
    const b = new Mutex(env, 'B', { name: 'B' });
    let inCritical = 0;
    const body = (first: Mutex, second: Mutex) => async () => {
      await first.lock({ site: `take ${first.name} first` });
      await second.lock({ site: `take ${second.name} second` });
      inCritical++;
      await sched.yield('critical section');
      inCritical--;
      second.unlock();
      first.unlock();
    };
    sched.spawn('t1', 'vcpu', body(a, b));
    sched.spawn('t2', 'vcpu', run.variant === 'naive' ? body(b, a) : body(a, b));
    return { invariant: () => run.check(inCritical <= 1, 'two tasks in the critical section') };
  },
};
