import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeHost } from '../../src/host/node.js';

test('nodeHost.randomFill fills the whole buffer with fresh random bytes on every call', () => {
  const a = nodeHost.randomFill(new Uint8Array(32));
  const b = nodeHost.randomFill(new Uint8Array(32));
  assert.equal(a.length, 32);
  // 2^-256 odds of a false failure for each of these.
  assert.notDeepEqual(a, new Uint8Array(32));
  assert.notDeepEqual(a, b);
  // A larger buffer is filled to its end, not just a first read's worth.
  const big = nodeHost.randomFill(new Uint8Array(65536));
  assert.notDeepEqual(big.subarray(65536 - 32), new Uint8Array(32));
});
