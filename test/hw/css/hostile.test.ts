/**
 * Hostile guests: random instructions with random operands over random
 * storage (channel programs included) never throw, always give an
 * architectural result, and keep the channel's work bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelSubsystem } from '../../../src/hw/css/css.js';
import { ArrayGuestMemory } from '../../../src/hw/css/guest-memory.js';
import { encodeOrb, orb, schidWord } from '../../../src/hw/css/schib.js';
import { StoreDevice } from '../../../src/hw/css/store-device.js';
import { EmulatedBackend, Subchannel } from '../../../src/hw/css/subchannel.js';
import type { VfioCcwOracle } from '../../../src/explore/scenarios/seed003-subchannel-clear-start.js';
import { ManualWorkQueue } from '../../../src/hw/css/work-queue.js';
import { ccw1, passthrough } from './helpers.js';
import { rng } from '../../helpers/rng.js';

for (const kind of ['emulated', 'naive', 'shipped'] as const) {
  test(`hostile guest on ${kind} subchannels: no exception, architectural results, bounded work`, () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const int = (n: number) => Math.floor(r() * n);
      const mem = new ArrayGuestMemory(0x4000);
      // Mostly garbage, sprinkled with TICs and chaining flags to make loops likely.
      for (let i = 0; i < mem.bytes.length; i++) mem.bytes[i] = int(4) === 0 ? [0x08, 0x40, 0x03, 0x00][int(4)]! : int(256);
      const dev = new StoreDevice();
      const css = new ChannelSubsystem(mem);
      const queues: ManualWorkQueue[] = [];
      let checker: VfioCcwOracle | null = null;
      if (kind === 'emulated') {
        const q = new ManualWorkQueue('ch');
        queues.push(q);
        const sch = new Subchannel(0, 0, 0x100, new EmulatedBackend(dev, mem, q, 256));
        sch.pmcw.enabled = true;
        css.attach(sch);
      } else {
        const { pt, oracle } = passthrough(kind, { guestMemory: mem, device: dev, budget: 256 });
        checker = oracle;
        queues.push(pt.channel as ManualWorkQueue, pt.hostInterrupts as ManualWorkQueue, pt.workqueue as ManualWorkQueue);
        css.attach(pt.guest);
      }
      const sids = [schidWord(0, 0), schidWord(0, 1), schidWord(3, 0), int(2 ** 32), 0x10000];
      for (let i = 0; i < 300; i++) {
        const sid = int(3) !== 0 ? sids[0]! : sids[int(sids.length)]!;
        const addr = int(5) === 0 ? int(2 ** 32) : int(0x4000);
        // Weighted: SSCH, TSCH and channel work most often.
        const op = [0, 0, 0, 1, 2, 3, 4, 4, 4, 5, 6, 7, 8, 8, 8, 8][int(16)]!;
        if (op === 0 && int(2) === 0) {
          // A well-formed ORB pointing at random (garbage) channel programs.
          const cpa = int(0x3f00) & ~7;
          mem.write(addr & 0x3ff8, encodeOrb(orb({ cpa, format1: true, suspend: int(4) === 0 })));
          // Half the time a plausible program: writes, reads, no-ops, chaining, a TIC back to the start.
          if (int(2) === 0) {
            const n = 1 + int(3);
            for (let k = 0; k < n; k++) {
              const tic = k === n - 1 && int(3) === 0;
              const flags = (k < n - 1 ? [0x40, 0x80, 0x60][int(3)]! : 0x20) | (int(6) === 0 ? 0x02 : 0);
              ccw1(mem, cpa + 8 * k, tic ? 0x08 : [0x01, 0x02, 0x03][int(3)]!, tic ? 0 : flags, tic ? 0 : int(16), tic ? cpa : 0x3f00 + int(0x80));
            }
          }
        }
        const res =
          op === 0 ? css.ssch(sid, int(2) === 0 ? addr & 0x3ff8 : addr) :
          op === 1 ? css.hsch(sid) :
          op === 2 ? css.csch(sid) :
          op === 3 ? css.rsch(sid) :
          op === 4 ? css.tsch(sid, int(2) === 0 ? 0x3e00 : addr) :
          op === 5 ? css.msch(sid, addr) :
          op === 6 ? css.stsch(sid, addr) :
          null;
        if (op === 7) css.tpi();
        if (op === 8) {
          const q = queues[int(queues.length)]!;
          q.runNext();
        }
        if (res) {
          if (res.kind === 'cc') assert.ok([0, 1, 2, 3].includes(res.cc));
          else assert.ok(['operand', 'specification', 'addressing'].includes(res.exception));
        }
      }
      for (const q of queues) assert.ok(q.drain(100_000) < 100_000, 'work drains');
      for (const q of queues) q.drain();
      // The shipped design keeps its attribution invariant whatever the guest does.
      if (kind === 'shipped') assert.deepEqual(checker!.check(), [], `seed ${seed}`);
    }
  });
}
