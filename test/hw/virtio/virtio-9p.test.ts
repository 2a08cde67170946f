import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osc } from 'node:os';
import { P9Server } from '../../../src/fs/p9-server.js';
import * as W from '../../../src/fs/p9-wire.js';
import { Virtio9p } from '../../../src/hw/virtio/virtio-9p.js';
import { deps, initDevice, makeRig, mmioRead, MMIO_BASE, notify, RAM_BASE, settle } from './driver.js';
import { readBytes } from './multiqueue.js';

const RING = RAM_BASE + 0x10000;
const OUT = RAM_BASE + 0x100000;
const IN = RAM_BASE + 0x200000;

function rig9p() {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-v9p-'));
  writeFileSync(join(dir, 'f'), 'file contents');
  const rig = makeRig(1, false);
  const server = new P9Server({ path: dir, securityModel: 'none' });
  const dev = new Virtio9p(deps(rig), server, 'share');
  rig.transports[0]!.plug(dev);
  const q = initDevice(rig, 0, RING, 16, 1 /* MOUNT_TAG */);
  return { dir, rig, dev, q };
}

test('virtio-9p: mount tag in config space; requests split across segments as Linux zero-copy sends them', async () => {
  const { dir, rig, dev, q } = rig9p();
  // config: tag_len then the tag
  assert.equal(mmioRead(rig.as, MMIO_BASE, 0x100) & 0xffff, 5);
  assert.equal(new TextDecoder().decode(dev.config.subarray(2)), 'share');
  const rpc = async (msg: Uint8Array, outSplit: number[] | null, inSplit: number[]): Promise<Uint8Array> => {
    outSplit ??= [msg.length];
    rig.as.write(OUT, msg);
    const chain = [];
    let off = 0;
    for (const n of outSplit) {
      chain.push({ addr: OUT + off, len: n });
      off += n;
    }
    let ioff = 0;
    for (const n of inSplit) {
      chain.push({ addr: IN + ioff, len: n, write: true });
      ioff += n;
    }
    const before = q.usedIdx();
    q.add(chain);
    notify(rig, 0, 0);
    await settle(rig, () => q.usedIdx() !== before);
    const [[, len]] = q.takeUsed() as [[number, number]];
    return readBytes(rig, IN, len);
  };
  const version = await rpc(new W.TBuilder(W.P9_TVERSION, 0xffff).u32(8192).str('9P2000.L').build(), null, [64]);
  assert.equal(version[4], W.P9_TVERSION + 1);
  await rpc(new W.TBuilder(W.P9_TATTACH, 1).u32(0).u32(W.P9_NOFID).str('').str('').u32(0).build(), null, [64]);
  await rpc(new W.TBuilder(W.P9_TWALK, 2).u32(0).u32(1).u16(1).str('f').build(), null, [64]);
  const wmsg = new W.TBuilder(W.P9_TLOPEN, 3).u32(1).u32(2).build();
  assert.equal((await rpc(wmsg, [wmsg.length], [64]))[4], W.P9_TLOPEN + 1);
  // Twrite with the header in one segment and the data in two more
  const data = new TextEncoder().encode('FILE');
  const tw = new W.TBuilder(W.P9_TWRITE, 4).u32(1).u64(0).u32(4).bytes(data).build();
  const rw = await rpc(tw, [23, 2, 2], [64]);
  assert.equal(rw[4], W.P9_TWRITE + 1);
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'FILE contents');
  // Tread whose reply lands in an 11-byte header segment and then data segments
  const rr = await rpc(new W.TBuilder(W.P9_TREAD, 5).u32(1).u64(0).u32(100).build(), [23], [11, 5, 100]);
  assert.equal(new TextDecoder().decode(rr.subarray(11)), 'FILE contents');
  // a size field larger than the chain: Rlerror, device keeps going
  const lying = new W.TBuilder(W.P9_TCLUNK, 6).u32(1).build();
  new DataView(lying.buffer).setUint32(0, 1000, true);
  const le = await rpc(lying, [lying.length], [64]);
  assert.equal(le[4], W.P9_RLERROR);
  assert.equal(new DataView(le.buffer).getUint32(7, true), osc.errno.EPROTO);
  // no room for any reply: completes with nothing written
  rig.as.write(OUT, new W.TBuilder(W.P9_TCLUNK, 7).u32(1).build());
  const before = q.usedIdx();
  q.add([{ addr: OUT, len: 11 }, { addr: IN, len: 4, write: true }]);
  notify(rig, 0, 0);
  await settle(rig, () => q.usedIdx() !== before);
  assert.deepEqual(q.takeUsed().map(([, l]) => l), [0]);
  assert.equal(dev.dropped, 1);
  // a reset drops every fid
  assert.ok(dev.server.fidCount > 0);
  dev.reset();
  assert.equal(dev.server.fidCount, 0);
});
