/**
 * What a device module loaded into an I/O-thread realm provides. The module
 * is imported inside the worker; its devices live there (only that realm
 * touches their state) and other realms reach them through its mailbox.
 */
import type { MemoryRegionOps } from '../../memory/types.js';
import type { RealmPhysMemory } from './realm-memory.js';

export interface IoThreadContext {
  /** This realm's number. */
  readonly realm: number;
  /** Guest physical memory as this realm sees it: RAM directly, other realms' devices by request. */
  readonly mem: RealmPhysMemory;
  /** This realm's request statistics (refusals by the cycle check and the lock order, dead targets). */
  readonly requests: { readonly cycleRefusals: number; readonly orderRefusals: number; readonly deadTargets: number };
  /** The JSON options given to startIoThread. */
  readonly options: Readonly<Record<string, unknown>>;
  log(line: string): void;
}

export interface IoThreadDeviceSpec {
  readonly name: string;
  readonly size: number;
  readonly ops: MemoryRegionOps;
}

export interface IoThreadModule {
  createDevices(ctx: IoThreadContext): IoThreadDeviceSpec[];
}

/** What the worker reports once its devices exist. */
export interface IoThreadReady {
  kind: 'ready';
  devices: { name: string; size: number; dev: number }[];
}
