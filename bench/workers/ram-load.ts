// Worker for smp.realm_ram_load32_ns: in its own isolate (as in a hart realm, the
// accessor class is the only one whose loads run there), time rounds of 32-bit
// RAM loads through a RealmPhysMemory ('realm') or an AddressSpace ('as') on
// request, so the parent can alternate the two under the same machine load.
import { parentPort, workerData } from 'node:worker_threads';
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MEMTXATTRS_UNSPECIFIED as U, type PhysMemory } from '../../src/memory/types.js';
import { HomeDevices } from '../../src/machine/smp/home-devices.js';
import { RealmPhysMemory } from '../../src/machine/smp/realm-memory.js';
import { SnapshotView, serializeFlatView } from '../../src/machine/smp/snapshot.js';

const ITERS = 500_000;

function loadRound(mem: PhysMemory, offs: Float64Array, iters: number): number {
  let s = 0;
  for (let i = 0; i < iters; i++) {
    mem.load(offs[i & 0xffff]!, 4, U);
    s = (s + mem.valLo) | 0;
  }
  return s;
}

const sys = MemoryRegion.container('system', 2 ** 40);
sys.addSubregion(0x8000_0000, MemoryRegion.ram('ram', 1 << 24));
sys.addSubregion(0x1000_0000, MemoryRegion.io('serial', 8, { read: () => 0x60, write: () => {} }));
const as = new AddressSpace(sys, 'bench-realm');
let mem: PhysMemory = as;
if ((workerData as { kind: string }).kind === 'realm') {
  const home = new HomeDevices({ realm: 0 });
  const port = { self: 1, valLo: 0, valHi: 0, request: () => 0 };
  mem = new RealmPhysMemory(new SnapshotView(serializeFlatView(as.flatView(), as.epoch, home)), port);
}
const offs = new Float64Array(1 << 16);
let x = 1;
for (let i = 0; i < offs.length; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  offs[i] = 0x8000_0000 + ((x % ((1 << 20) - 8)) & ~3);
}
let sink = 0;
parentPort!.on('message', (m: string) => {
  if (m === 'exit') {
    if (sink === 0.5) console.error(sink);
    process.exit(0);
  }
  const t0 = process.hrtime.bigint();
  sink ^= loadRound(mem, offs, ITERS);
  const t1 = process.hrtime.bigint();
  parentPort!.postMessage(Number(t1 - t0) / ITERS);
});
parentPort!.postMessage(-1);
