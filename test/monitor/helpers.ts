import { BlockBackend } from '../../src/block/backend.js';
import type { BlockDriver } from '../../src/block/driver.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine } from '../../src/machine/virt/virt.js';
import { ChardevRegistry } from '../../src/hw/char/chardev-registry.js';
import { parseChardev } from '../../src/hw/char/chardev-spec.js';
import { SocketChardev } from '../../src/hw/char/chardev-socket.js';
import { DeviceInventory } from '../../src/machine/virt/device-inventory.js';
import { startMonitors, type ControlPlane } from '../../src/monitor/control-plane.js';
import { firmware } from '../helpers/firmware.js';

export { firmware };


/** Stores 0x11223344 at 0x80001000, then counts forever in the doubleword at 0x80002000 + 8 * hartid. */
export const COUNTER_FW = `
  .text
  csrr a0, mhartid
  li t0, 0x80001000
  li t1, 0x11223344
  sw t1, 0(t0)
  li t0, 0x80002000
  slli t2, a0, 3
  add t0, t0, t2
1: ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  j 1b
`;

export interface InProcess {
  machine: VirtMachine;
  chardevs: ChardevRegistry;
  inventory: DeviceInventory;
  control: ControlPlane;
  qmpPath: string;
  hmpPort: number;
  run: Promise<number>;
  /** The counter the firmware increments (hart 0). */
  counter(): bigint;
}

/** A virt machine in this process with QMP on a Unix socket and the human monitor on TCP (port 0). */
export async function startInProcess(extraDevices: { driver: string; props: Record<string, string> }[] = []): Promise<InProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-mon-'));
  const qmpPath = join(dir, 'qmp.sock');
  const chardevs = new ChardevRegistry();
  chardevs.add(parseChardev(`socket,id=qmp0,path=${qmpPath},server=on,wait=off`));
  chardevs.add(parseChardev('socket,id=hmp0,host=127.0.0.1,port=0,server=on,wait=off'));
  const machine = new VirtMachine({ ramSize: 64 * 1024 * 1024, smp: 1 });
  machine.boot({ bios: firmware(COUNTER_FW) });
  // One drive whose host writes fail with ENOSPC, for BLOCK_IO_ERROR.
  const full: BlockDriver = {
    size: 1 << 20,
    readonly: false,
    readv: async () => {},
    writev: async () => {
      throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
    },
    flush: async () => {},
    writeZeroes: async () => {},
    discard: async () => {},
    close: async () => {},
  };
  const disk = new BlockBackend('d0', full, 'raw (test)');
  const inventory = new DeviceInventory(machine, new Map(), undefined, new Map([['d0', disk]]));
  inventory.plugAll(extraDevices);
  const control = startMonitors({
    machine,
    chardevs,
    inventory,
    name: 'inproc',
    monitors: [
      { chardev: 'qmp0', mode: 'control', pretty: false },
      { chardev: 'hmp0', mode: 'readline', pretty: false },
    ],
  });
  await chardevs.ready();
  const hmpPort = await (chardevs.get('hmp0')!.backend as SocketChardev).listening;
  const run = machine.run().finally(() => {
    control.close();
    chardevs.closeAll();
  });
  const counter = (): bigint => {
    const b = new Uint8Array(8);
    machine.as.read(0x80002000, b);
    return new DataView(b.buffer).getBigUint64(0, true);
  };
  return { machine, chardevs, inventory, control, qmpPath, hmpPort, run, counter };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
