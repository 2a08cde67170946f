/**
 * What a virt machine is built from (the command line's -m, -smp, -accel,
 * -serial, -d, ... as VirtMachine takes them).
 */
import type { HostServices } from '../../host/types.js';
import type { CharBackend } from '../../hw/char/chardev-core.js';
import type { ClockMode } from '../event-loop.js';

export interface VirtOptions {
  ramSize: number;
  smp: number;
  clock?: ClockMode;
  /** Backend of the console UART (default: discards output, no input). */
  serial?: CharBackend;
  /** -d items (unimp, guest_errors, ...). */
  log?: ReadonlySet<string>;
  /** Where -d messages go (default stderr). */
  logger?: (line: string) => void;
  /** -no-reboot: a guest reset ends the run (exit 0) instead of restarting. */
  noReboot?: boolean;
  /** Instructions per hart per quantum. */
  quantum?: number;
  /** Host milliseconds of guest work per event-loop turn (default 8; tests shorten it). */
  sliceMs?: number;
  /** riscv,isa override (tests); default: what the harts implement. */
  isa?: string;
  /** 32 bytes for /chosen/rng-seed; default random (fixed zeros in deterministic mode). */
  rngSeed?: Uint8Array;
  /** Backing files of the two flash banks (QEMU's -drive if=pflash,unit=0|1); each exactly 32 MiB. */
  pflash?: readonly ({ file: string; readOnly?: boolean } | undefined)[];
  /**
   * -accel tcg,thread=multi: each hart in its own worker realm (src/machine/smp,
   * docs/smp.md); 'single' (default) interleaves them on the event loop.
   * Multi needs the realtime clock.
   */
  threads?: 'single' | 'multi';
  /** -accel tcg,jit=on|off: translate hot guest code (default: the Hart's default, on). */
  translate?: boolean;
  /** -accel tcg,regions=on|off: the region tier in front of the block translator (default off). */
  regions?: boolean;
  /** -accel tcg,threaded=on|off: threaded code for warm blocks (jit/thread-code.ts; default on, without effect with -smp above 1). */
  threaded?: boolean;
  /**
   * --debug-locks: the lock-order validator checks the machine's locks and
   * the use-after-removal detector runs; reports go to `logger` (stderr).
   */
  debugLocks?: boolean;
  /** -S: the harts wait for the monitor's `cont` before their first instruction (run state 'prelaunch'). */
  startPaused?: boolean;
  /** -no-shutdown: a guest poweroff stops the machine (run state 'shutdown') instead of ending the run. */
  noShutdown?: boolean;
  /** -machine virt,iommu-sys=on: a platform RISC-V IOMMU translates PCI devices' DMA (docs/iommu.md). */
  iommuSys?: boolean;
  /**
   * Called once by run(), when the guest's first instruction comes next: after the hart realms
   * (threads 'multi') have started (the CLI passes its host's runStarting hook for those).
   */
  onGuestStart?: () => void;
  /**
   * The platform: where image paths are read, flash files opened, hart
   * realms started, and log lines go by default (src/host; default: Node's,
   * or the browser's in a browser bundle).
   */
  host?: HostServices;
}
