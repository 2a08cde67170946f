/**
 * What a `-device` entry needs from a board, and the entry's shape.
 *
 * Device families (hw/virtio, hw/pci, ...) export tables of DeviceFactory
 * written against `PlugBoard`, the few board facilities plugging uses; the
 * board (src/machine/virt/devices.ts) collects the tables into its registry.
 * Nothing here knows a machine: hw sits below machine, so the dependency runs
 * one way and importing a family's table first is as good as any order.
 */
import type { AddressSpace } from '../memory/address-space.js';
import type { MemoryRegion } from '../memory/region.js';
import type { Scheduler } from '../sync/work.js';
import type { IrqLine } from './irq.js';
import type { PciDevice } from './pci/device.js';
import type { ChardevRegistry } from './char/chardev-registry.js';
import type { BlockDriver } from '../block/driver.js';
import type { NetBackend } from '../net/backend.js';

/** A bad -device/-drive specification: one line for the CLI, exit 1. */
export class DeviceSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceSpecError';
  }
}

/** A virtio-mmio slot a transport's register region can be plugged into. */
export interface PlugSlot {
  readonly occupied: boolean;
  /** Interrupt source the slot's transport raises. */
  readonly irq: number;
  plug(mr: MemoryRegion): void;
}

/** The board facilities `-device` entries use. The virt machine is one. */
export interface PlugBoard {
  readonly loop: Scheduler;
  /** The address space devices DMA through. */
  readonly as: AddressSpace;
  readonly plic: { input(n: number): IrqLine };
  readonly virtio: readonly PlugSlot[];
  /** The root PCI bus (pcie.0). */
  readonly gpex: { addDevice(dev: PciDevice, devfn?: number): number };
}

export interface DevicePlugContext {
  machine: PlugBoard;
  /** -drive definitions by id. */
  drives: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** The run's chardevs by id (-chardev): frontends such as virtio-serial ports claim theirs with chardevs.claim(id, user). */
  chardevs?: ChardevRegistry;
  /** The opened images of those drives, by id (src/block/open.ts). */
  backends?: ReadonlyMap<string, BlockDriver>;
  /** -netdev backends by id (src/net). */
  netdevs?: ReadonlyMap<string, NetBackend>;
  /** -fsdev definitions by id (virtio-9p). */
  fsdevs?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export interface DeviceFactory {
  readonly summary: string;
  plug(ctx: DevicePlugContext, props: Readonly<Record<string, string>>): void;
}
