// Property: under any sequence of device maps/unmaps/copies and guest
// retarget+invalidate operations, once an invalidation of a page completes, the
// page the IOVA used to translate to never changes again (the guest has reused
// it as a guard page). Mappings are released in arbitrary order and some are
// held past a revoke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memTxAttrs } from '../../src/memory/types.js';
import { dmaMap, dmaStats, dmaUnmap, dmaWrite, type DmaMapping } from '../../src/dma/dma.js';
import { IOMMU_RW, type InvalidationCompletion } from '../../src/dma/iommu.js';
import { iommuMachine, RAM } from './iommu-setup.js';

const PAGES = 4; // IOVA pages 0..3 at 0x10000 + p * 0x1000
const IOVA0 = 0x10000;
const DEV = memTxAttrs({ requesterId: 1 });

type Op =
  | { k: 'map'; page: number; off: number; len: number }
  | { k: 'unmap'; which: number; used: number }
  | { k: 'write'; page: number; off: number; len: number }
  | { k: 'retarget'; page: number }
  | { k: 'revoke' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('map' as const), page: fc.nat(PAGES - 1), off: fc.nat(0xfff), len: fc.integer({ min: 1, max: 0x200 }) }),
  fc.record({ k: fc.constant('unmap' as const), which: fc.nat(7), used: fc.nat(0x200) }),
  fc.record({ k: fc.constant('write' as const), page: fc.nat(PAGES - 1), off: fc.nat(0xfff), len: fc.integer({ min: 1, max: 0x100 }) }),
  fc.record({ k: fc.constant('retarget' as const), page: fc.nat(PAGES - 1) }),
  fc.constant({ k: 'revoke' as const }),
);

test('property: no write reaches a page after the invalidation that released it completed', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 255 }), (ops, fill) => {
      const { devAs, iommu, pt, ram, destroy } = iommuMachine();
      try {
        // Each IOVA page starts on its own RAM page; retargeting always picks a fresh one.
        let nextPage = 0x10;
        const target: number[] = [];
        for (let p = 0; p < PAGES; p++) {
          target[p] = nextPage++;
          pt.map(IOVA0 + p * 0x1000, RAM + target[p]! * 0x1000, 0x1000, IOMMU_RW);
        }
        iommu.invalidateAll();
        const held: DmaMapping[] = [];
        const pending: { c: InvalidationCompletion; old: number }[] = [];
        const guards = new Set<number>(); // RAM page numbers that must stay filled with the sentinel
        const SENTINEL = 0xa5;
        const settle = (): void => {
          for (let i = pending.length - 1; i >= 0; i--) {
            const { c, old } = pending[i]!;
            if (c.status !== 'pending') {
              ram.fill(SENTINEL, old * 0x1000, old * 0x1000 + 0x1000);
              guards.add(old);
              pending.splice(i, 1);
            }
          }
        };
        const checkGuards = (): void => {
          for (const g of guards) {
            for (let i = g * 0x1000; i < g * 0x1000 + 0x1000; i++) {
              if (ram[i] !== SENTINEL) assert.fail(`guard page ${g.toString(16)} written after its invalidation completed`);
            }
          }
        };
        for (const o of ops) {
          switch (o.k) {
            case 'map': {
              const m = dmaMap(devAs, IOVA0 + o.page * 0x1000 + o.off, o.len, true, DEV);
              if (m.ok) {
                m.bytes.fill(fill);
                held.push(m);
              }
              break;
            }
            case 'unmap': {
              if (held.length === 0) break;
              const m = held.splice(o.which % held.length, 1)[0]!;
              dmaUnmap(devAs, m, o.used);
              break;
            }
            case 'write':
              dmaWrite(devAs, IOVA0 + o.page * 0x1000 + o.off, new Uint8Array(o.len).fill(fill), DEV);
              break;
            case 'retarget': {
              const iova = IOVA0 + o.page * 0x1000;
              const old = target[o.page]!;
              target[o.page] = nextPage++;
              pt.unmap(iova, 0x1000);
              pt.map(iova, RAM + target[o.page]! * 0x1000, 0x1000, IOMMU_RW);
              pending.push({ c: iommu.invalidate(iova, 0x1000), old });
              break;
            }
            case 'revoke':
              for (const p of pending) p.c.revokeNow();
              break;
          }
          settle();
          checkGuards();
        }
        for (const m of held.splice(0)) dmaUnmap(devAs, m, m.length);
        settle();
        checkGuards();
        assert.equal(pending.length, 0, 'every invalidation completes once its mappings are gone');
        assert.equal(iommu.outstandingMappings, 0);
        assert.equal(dmaStats(devAs).liveMappings, 0);
      } finally {
        destroy();
      }
    }),
    { numRuns: 200 },
  );
});
