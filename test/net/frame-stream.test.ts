import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder, MAX_FRAME, frameHeader } from '../../src/net/frame-stream.js';
import { parseHostForward, parseNetdev, parseNic } from '../../src/net/netdev.js';
import { passtArgs } from '../../src/net/passt.js';

function encode(frames: Uint8Array[]): Uint8Array {
  const parts = frames.flatMap((f) => [frameHeader(f.length), f]);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('frame decoder: any split of the stream into chunks yields the same frames', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 14, maxLength: 3000 }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 30 }),
      (frames, cuts) => {
        const wire = encode(frames);
        const dec = new FrameDecoder();
        const got: Uint8Array[] = [];
        let off = 0;
        for (let i = 0; off < wire.length; i++) {
          const n = cuts[i % cuts.length]!;
          dec.push(wire.subarray(off, off + n), (f) => got.push(f.slice()));
          off += n;
        }
        assert.deepEqual(got, frames);
        assert.equal(dec.stats.frames, frames.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('frame decoder: oversized and runt frames are skipped without buffering, a cut-off frame is counted', () => {
  const dec = new FrameDecoder();
  const got: Uint8Array[] = [];
  const good = new Uint8Array(60).fill(7);
  const big = new Uint8Array(MAX_FRAME + 1);
  const wire = encode([big, new Uint8Array(3), new Uint8Array(0), good]);
  // byte by byte: the header of the oversized frame is split too
  for (let i = 0; i < wire.length; i += 997) dec.push(wire.subarray(i, i + 997), (f) => got.push(f.slice()));
  assert.deepEqual(got, [good]);
  assert.deepEqual({ ...dec.stats }, { frames: 1, oversized: 1, runts: 2, truncated: 0 });
  dec.push(encode([good]).subarray(0, 30), () => assert.fail('a partial frame was delivered'));
  dec.end();
  assert.equal(dec.stats.truncated, 1);
  dec.push(encode([good]), (f) => got.push(f.slice()));
  assert.equal(got.length, 2, 'after end() the decoder starts afresh');
});

test('-netdev / -nic / hostfwd parsing in QEMU syntax', () => {
  assert.deepEqual(parseHostForward('tcp:127.0.0.1:8080-:80'), { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestPort: 80 });
  assert.deepEqual(parseHostForward('::2222-10.0.2.15:22'), { proto: 'tcp', hostAddr: '', hostPort: 2222, guestPort: 22 });
  assert.deepEqual(parseHostForward('udp::5353-:53'), { proto: 'udp', hostAddr: '', hostPort: 5353, guestPort: 53 });
  const u = parseNetdev('user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53');
  assert.equal(u.type, 'user');
  assert.equal(u.type === 'user' && u.forwards.length, 2);
  assert.deepEqual(passtArgs(u.type === 'user' ? u.forwards : []).slice(-4), ['-t', '127.0.0.1/8080:80', '-u', '5353:53']);
  assert.deepEqual(parseNetdev('stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=4000'), {
    type: 'stream', id: 's', server: true, addr: { kind: 'inet', host: '127.0.0.1', port: 4000 },
  });
  assert.deepEqual(parseNetdev('stream,id=s,addr.type=unix,addr.path=/tmp/x.sock'), { type: 'stream', id: 's', server: false, addr: { kind: 'unix', path: '/tmp/x.sock' } });
  assert.deepEqual(parseNetdev('socket,id=k,listen=:4001'), { type: 'socket', id: 'k', server: true, addr: { kind: 'inet', host: '0.0.0.0', port: 4001 } });
  assert.deepEqual(parseNetdev('socket,id=k,connect=[::1]:4001'), { type: 'socket', id: 'k', server: false, addr: { kind: 'inet', host: '::1', port: 4001 } });
  assert.equal(parseNic('none', 0), null);
  const nic = parseNic('user,mac=52:54:00:00:00:09,hostfwd=tcp::2222-:22', 3)!;
  assert.deepEqual(nic.device, { driver: 'virtio-net-pci', props: { netdev: '__org.qemu.nic3', mac: '52:54:00:00:00:09' } });
  assert.equal(nic.netdev.id, '__org.qemu.nic3');
  assert.equal(parseNic('socket,id=x,connect=127.0.0.1:1,model=virtio-net-device', 0)!.device.driver, 'virtio-net-device');
});
