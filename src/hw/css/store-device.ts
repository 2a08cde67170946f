/**
 * A minimal control unit for channel programs: write commands append to a
 * byte store, read commands return from it, 0x03 is a no-op control command,
 * sense returns the sense bytes, and command 0x0b (a control command) fails
 * with unit check so error paths can be exercised.
 */
import { CCW_CMD_NOOP, CCW_CMD_SENSE, DS_CHANNEL_END, DS_DEVICE_END, DS_UNIT_CHECK } from './bits.js';
import type { CcwDevice } from './channel-program.js';

export const STORE_CMD_WRITE = 0x01;
export const STORE_CMD_READ = 0x02;
export const STORE_CMD_FAIL = 0x0b;

export class StoreDevice implements CcwDevice {
  /** Bytes written so far, in order. */
  written: number[] = [];
  /** What read commands return (from the start each time). */
  readData: Uint8Array = new Uint8Array(0);
  sense = new Uint8Array([0x80, 0, 0, 0]);
  /** Commands seen, in order (for tests). */
  readonly commands: number[] = [];

  write(cmd: number, data: Uint8Array): { status: number; accepted: number } {
    this.commands.push(cmd);
    if (cmd === STORE_CMD_FAIL) return { status: DS_CHANNEL_END | DS_DEVICE_END | DS_UNIT_CHECK, accepted: 0 };
    if (cmd === CCW_CMD_NOOP) return { status: DS_CHANNEL_END | DS_DEVICE_END, accepted: 0 };
    for (const byte of data) this.written.push(byte);
    return { status: DS_CHANNEL_END | DS_DEVICE_END, accepted: data.length };
  }

  read(cmd: number, maxCount: number): { status: number; data: Uint8Array } {
    this.commands.push(cmd);
    const src = (cmd & 0x0f) === CCW_CMD_SENSE ? this.sense : this.readData;
    return { status: DS_CHANNEL_END | DS_DEVICE_END, data: src.subarray(0, Math.min(maxCount, src.length)) };
  }

  senseBytes(): Uint8Array {
    return this.sense;
  }
}
