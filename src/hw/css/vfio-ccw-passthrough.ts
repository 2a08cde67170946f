/**
 * The whole pass-through stack for one device, wired: host subchannel and its
 * queues, CpArena, VfioCcw, the user-space backend and the guest's subchannel.
 * `parts` is where the explorer swaps in other halves.
 */
import type { CcwDevice } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import { CpArena, HostMemory, HostSubchannel } from './host-subchannel.js';
import { Subchannel } from './subchannel.js';
import { VfioCcw, type VfioCcwOptions } from './vfio-ccw.js';
import { VfioCcwGuestBackend, type GuestInterruptRecord } from './vfio-ccw-backend.js';
import { ManualWorkQueue, type CssWorkQueue } from './work-queue.js';

/** How a pass-through stack builds its two halves (the shipped classes unless the explorer injects others). */
export interface VfioCcwParts {
  vfio(opts: VfioCcwOptions): VfioCcw;
  backend(vfio: VfioCcw): VfioCcwGuestBackend;
}

const SHIPPED_PARTS: VfioCcwParts = {
  vfio: (opts) => new VfioCcw(opts),
  backend: (vfio) => new VfioCcwGuestBackend(vfio),
};

export interface VfioCcwPassthroughOptions {
  /** Guest storage (channel programs and data). */
  guestMemory: CssMemory;
  /** The real device behind the host subchannel. */
  device: CcwDevice;
  /** Queues for the host channel, host interruptions and the workqueue; ManualWorkQueues by default. */
  channel?: CssWorkQueue;
  hostInterrupts?: CssWorkQueue;
  workqueue?: CssWorkQueue;
  budget?: number;
  /** Guest subchannel number and device number. */
  schno?: number;
  devno?: number;
  /** Alternative halves (default: the shipped VfioCcw and VfioCcwGuestBackend). */
  parts?: VfioCcwParts;
}

/**
 * The whole pass-through stack for one device: host subchannel, vfio-ccw,
 * the user-space backend and the guest's subchannel (opened and enabled).
 */
export class VfioCcwPassthrough {
  readonly arena = new CpArena();
  readonly host: HostSubchannel;
  readonly vfio: VfioCcw;
  readonly backend: VfioCcwGuestBackend;
  readonly guest: Subchannel;
  readonly channel: CssWorkQueue;
  readonly hostInterrupts: CssWorkQueue;
  readonly workqueue: CssWorkQueue;

  constructor(opts: VfioCcwPassthroughOptions) {
    const parts = opts.parts ?? SHIPPED_PARTS;
    this.channel = opts.channel ?? new ManualWorkQueue('channel');
    this.hostInterrupts = opts.hostInterrupts ?? new ManualWorkQueue('host-irq');
    this.workqueue = opts.workqueue ?? new ManualWorkQueue('workqueue');
    this.host = new HostSubchannel({
      device: opts.device,
      memory: new HostMemory(opts.guestMemory, this.arena),
      channel: this.channel,
      interrupts: this.hostInterrupts,
      budget: opts.budget,
    });
    this.vfio = parts.vfio({ host: this.host, arena: this.arena, guestMemory: opts.guestMemory, workqueue: this.workqueue, budget: opts.budget });
    this.backend = parts.backend(this.vfio);
    this.guest = new Subchannel(0, opts.schno ?? 0, opts.devno ?? 0x0001, this.backend);
    this.backend.sch = this.guest;
    this.guest.pmcw.enabled = true;
    this.vfio.open();
  }

  /** Interrupts presented to the guest, with the report each came from. */
  get guestInterrupts(): readonly GuestInterruptRecord[] {
    return this.backend.delivered;
  }
}
