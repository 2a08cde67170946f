/**
 * Lost wakeup: the consumer tests the flag outside the mutex and then waits;
 * the producer's notify can fall between the two and is lost, leaving the
 * consumer blocked forever (a deadlock the explorer reports). The shipped
 * version tests and waits under the mutex, in a loop.
 */
import { CondVar } from '../../../sync/condvar.js';
import { Mutex } from '../../../sync/mutex.js';
import type { Scenario } from '../../scenario.js';

export const lostWakeup: Scenario = {
  name: 'classic-lost-wakeup',
  description: 'consumer checks a flag outside the mutex, then waits; the notify can be lost',
  variants: ['naive', 'shipped'],
  drives: [],
  buggy: ['naive'],
  stepsHint: 12,
  setup(run) {
    const { env, sched } = run;
    const m = new Mutex(env, 'queue', { name: 'queue.lock' });
    const cv = new CondVar(env, 'queue.nonempty');
    let flag = false;
    let consumed = false;
    sched.spawn('consumer', 'iothread', async () => {
      if (run.variant === 'naive') {
        await sched.yield('test flag');
        if (!flag) {
          await m.lock({ site: 'consumer wait' });
          await cv.wait(m);
          m.unlock();
        }
      } else {
        await m.lock({ site: 'consumer wait' });
        while (!flag) await cv.wait(m);
        m.unlock();
      }
      consumed = true;
    });
    sched.spawn('producer', 'vcpu', async () => {
      await sched.yield('set flag');
      if (run.variant === 'naive') {
        flag = true;
        await m.lock({ site: 'producer notify' });
        cv.notify();
        m.unlock();
      } else {
        await m.lock({ site: 'producer notify' });
        flag = true;
        cv.notify();
        m.unlock();
      }
    });
    return { finish: () => run.check(consumed, 'consumer never consumed') };
  },
};
