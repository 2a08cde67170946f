// Random operation sequences against a brute-force PLIC written straight from the rules in docs/devices.md:
// claims, outputs and register reads must agree at every step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Plic, MIP_MEIP_BIT, MIP_SEIP_BIT } from '../../../src/hw/intc/plic.js';
import { RecordingHart, rd, wr } from '../misc/helpers.js';

const N = 96;

class Model {
  prio = new Array<number>(N).fill(0);
  level = new Array<boolean>(N).fill(false);
  pending = new Array<boolean>(N).fill(false);
  claimed = new Array<boolean>(N).fill(false);
  enabled: boolean[][];
  threshold: number[];
  constructor(readonly contexts: number) {
    this.enabled = Array.from({ length: contexts }, () => new Array<boolean>(N).fill(false));
    this.threshold = new Array<number>(contexts).fill(0);
  }
  set(s: number, l: boolean) {
    if (s === 0) return;
    this.level[s] = l;
    if (l) this.pending[s] = true;
  }
  best(ctx: number): number {
    let best = 0;
    let bp = this.threshold[ctx]!;
    for (let s = 1; s < N; s++) {
      if (this.pending[s] && !this.claimed[s] && this.enabled[ctx]![s] && this.prio[s]! > bp) {
        best = s;
        bp = this.prio[s]!;
      }
    }
    return best;
  }
  claim(ctx: number): number {
    const s = this.best(ctx);
    if (s) {
      this.pending[s] = false;
      this.claimed[s] = true;
    }
    return s;
  }
  complete(ctx: number, s: number) {
    if (s <= 0 || s >= N || !this.enabled[ctx]![s]) return;
    this.claimed[s] = false;
    if (this.level[s]) this.pending[s] = true;
  }
}

const op = fc.oneof(
  fc.record({ k: fc.constant('set' as const), s: fc.integer({ min: 0, max: N - 1 }), l: fc.boolean() }),
  fc.record({ k: fc.constant('prio' as const), s: fc.integer({ min: 0, max: N - 1 }), v: fc.nat() }),
  fc.record({ k: fc.constant('enable' as const), ctx: fc.integer({ min: 0, max: 3 }), w: fc.integer({ min: 0, max: 2 }), v: fc.nat() }),
  fc.record({ k: fc.constant('thresh' as const), ctx: fc.integer({ min: 0, max: 3 }), v: fc.nat({ max: 9 }) }),
  fc.record({ k: fc.constant('claim' as const), ctx: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('complete' as const), ctx: fc.integer({ min: 0, max: 3 }), s: fc.integer({ min: -1, max: N + 2 }) }),
);

test('plic: random operation sequences agree with a brute-force model', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const harts = [new RecordingHart(), new RecordingHart()];
      const plic = new Plic(harts);
      const mr = plic.mr;
      const m = new Model(4);
      const lastClaim: number[] = [0, 0, 0, 0];
      for (const o of ops) {
        switch (o.k) {
          case 'set':
            if (o.s > 0) plic.input(o.s).set(o.l);
            m.set(o.s, o.l);
            break;
          case 'prio':
            wr(mr, 4 * o.s, o.v);
            if (o.s > 0) m.prio[o.s] = o.v & 7;
            break;
          case 'enable': {
            wr(mr, 0x2000 + 0x80 * o.ctx + 4 * o.w, o.v);
            for (let b = 0; b < 32; b++) {
              const s = o.w * 32 + b;
              if (s > 0 && s < N) m.enabled[o.ctx]![s] = ((o.v >>> b) & 1) === 1;
            }
            break;
          }
          case 'thresh':
            wr(mr, 0x200000 + 0x1000 * o.ctx, o.v);
            m.threshold[o.ctx] = o.v & 7;
            break;
          case 'claim': {
            const got = rd(mr, 0x200004 + 0x1000 * o.ctx);
            assert.equal(got, m.claim(o.ctx));
            lastClaim[o.ctx] = got;
            break;
          }
          case 'complete': {
            const s = o.s === -1 ? lastClaim[o.ctx]! : o.s;
            wr(mr, 0x200004 + 0x1000 * o.ctx, s >>> 0);
            m.complete(o.ctx, s);
            break;
          }
        }
        for (let ctx = 0; ctx < 4; ctx++) {
          const bit = ctx & 1 ? MIP_SEIP_BIT : MIP_MEIP_BIT;
          assert.equal(harts[ctx >> 1]!.has(bit), m.best(ctx) !== 0, `output of context ${ctx}`);
        }
        for (let w = 0; w < 3; w++) {
          let bits = 0;
          for (let b = 0; b < 32; b++) if (m.pending[w * 32 + b]) bits |= 1 << b;
          assert.equal(rd(mr, 0x1000 + 4 * w), bits >>> 0);
        }
      }
    }),
    { numRuns: 300 },
  );
});
