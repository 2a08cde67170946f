/**
 * The library entry (`import { createMachine } from 'tsvmm'`): the `virt`
 * machine that `tsvmm run` builds, from images given as host paths or bytes,
 * with the console on a callback and an optional in-memory virtio-blk disk.
 * The same code runs in Node and in a web page; the platform's host services
 * (src/host) supply files, hart workers and logging.
 */
import { BootError, VirtMachine, type BootInfo } from './virt/virt.js';
import { CallbackBackend } from '../hw/char/chardev-core.js';
import { MemoryBlockDriver } from '../block/memory.js';
import type { BlockDriver } from '../block/driver.js';
import { VIRTIO_VIRT_DEVICES } from '../hw/virtio/virt-devices.js';
import type { HostFiles, HostServices } from '../host/types.js';
import { defaultHost } from '../host/default.js';
import type { RunState } from './run-control.js';

/** A host path (Node) or registered file name (browser), or the bytes themselves with a name for messages. */
export type ImageInput = string | { name: string; bytes: Uint8Array };

export interface CreateMachineOptions {
  /** Guest RAM in bytes (default 256 MiB, as `tsvmm run`). */
  memory?: number;
  /** Harts (default 1). */
  smp?: number;
  /** 'multi': each hart in its own worker (the default with smp > 1); 'single': interleaved on the caller's event loop. */
  threads?: 'single' | 'multi';
  /** Firmware; 'none' for none; default Debian's M-mode U-Boot (with a kernel: OpenSBI fw_dynamic), as QEMU. */
  bios?: ImageInput | 'none';
  kernel?: ImageInput;
  initrd?: ImageInput;
  dtb?: ImageInput;
  append?: string;
  /** A virtio-blk-device disk: the image's bytes (written in place) or any block driver. */
  disk?: Uint8Array | BlockDriver;
  /** Console (UART) output, in batches. */
  onOutput?: (bytes: Uint8Array) => void;
  /** Log lines (guest errors, worker failures); default: the host's (stderr / console). */
  logger?: (line: string) => void;
  /** A guest reset ends the run instead of restarting. */
  noReboot?: boolean;
  /** Default: the platform's (src/host/default.ts). */
  host?: HostServices;
}

export interface Machine {
  readonly vm: VirtMachine;
  readonly boot: BootInfo;
  /** The disk when given as bytes: the image as the guest has written it. */
  readonly disk: MemoryBlockDriver | null;
  readonly harts: number;
  /** Run until the guest powers off (or powerOff()); resolves with the exit code. */
  run(): Promise<number>;
  /** Type into the console. */
  input(data: string | Uint8Array): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
  reset(): void;
  /** End the run (exit code `code`). */
  powerOff(code?: number): void;
  readonly state: RunState;
  /** Guest instructions retired by all harts so far. */
  instructions(): number;
}

/** Overlay byte images on the host's files under their names. */
function withImages(files: HostFiles, images: Map<string, Uint8Array>): HostFiles {
  if (images.size === 0) return files;
  return {
    exists: (p) => images.has(p) || files.exists(p),
    read: (p) => images.get(p) ?? files.read(p),
  };
}

/** Build, load and wire a machine; throws BootError (one line) for bad options or images. */
export function createMachine(opts: CreateMachineOptions = {}): Machine {
  const baseHost = opts.host ?? defaultHost;
  const images = new Map<string, Uint8Array>();
  const path = (i: ImageInput | undefined): string | undefined => {
    if (i === undefined || typeof i === 'string') return i;
    images.set(i.name, i.bytes);
    return i.name;
  };
  const spec = { bios: path(opts.bios), kernel: path(opts.kernel), initrd: path(opts.initrd), dtb: path(opts.dtb), append: opts.append };
  const host: HostServices = { ...baseHost, files: withImages(baseHost.files, images) };
  const smp = opts.smp ?? 1;
  if (!(Number.isInteger(smp) && smp >= 1 && smp <= 64)) throw new BootError(`smp: ${smp} harts (1 to 64)`);
  const memory = opts.memory ?? 256 * 1024 * 1024;
  if (!(Number.isInteger(memory) && memory >= 16 << 20 && memory % 4096 === 0)) throw new BootError(`memory: ${memory} bytes (at least 16 MiB, a multiple of 4 KiB)`);
  const serial = new CallbackBackend(opts.onOutput ?? (() => {}));
  const vm = new VirtMachine({
    ramSize: memory,
    smp,
    threads: opts.threads ?? (smp > 1 ? 'multi' : 'single'),
    serial,
    logger: opts.logger,
    noReboot: opts.noReboot,
    host,
  });
  const boot = vm.boot(spec);
  let disk: MemoryBlockDriver | null = null;
  if (opts.disk !== undefined) {
    const driver = opts.disk instanceof Uint8Array ? (disk = new MemoryBlockDriver(opts.disk)) : opts.disk;
    const ctx = { machine: vm, drives: new Map([['disk0', {}]]), backends: new Map([['disk0', driver]]) };
    VIRTIO_VIRT_DEVICES['virtio-blk-device']!.plug(ctx, { drive: 'disk0' });
  }
  return {
    vm,
    boot,
    disk,
    harts: smp,
    run: async () => {
      try {
        return await vm.run();
      } finally {
        serial.flush();
      }
    },
    input: (d) => serial.feed(d),
    pause: () => vm.runControl.stop(),
    resume: () => vm.runControl.cont(),
    reset: () => vm.requestReset(),
    powerOff: (code = 0) => vm.quit(code, 'host-ui'),
    get state() {
      return vm.runControl.state;
    },
    instructions: () => {
      const c = vm.smpCoordinator;
      let n = 0;
      for (let h = 0; h < smp; h++) n += c ? c.hartSteps(h) : vm.harts[h]!.steps;
      return n;
    },
  };
}
