/**
 * Goldfish RTC (google,goldfish-rtc; "goldfish_rtc", 0x24 bytes): a 64-bit
 * nanosecond clock with one alarm and one interrupt line (PLIC 11 on virt).
 *
 *   0x00 TIME_LOW      read: low 32 bits of now, latches the high half; write: set low half
 *   0x04 TIME_HIGH     read: the latched high half; write: set high half
 *   0x08 ALARM_LOW     write arms the alarm at (ALARM_HIGH << 32) | value
 *   0x0c ALARM_HIGH    high half of the next alarm
 *   0x10 IRQ_ENABLED   bit 0
 *   0x14 CLEAR_ALARM   disarm
 *   0x18 ALARM_STATUS  1 while armed
 *   0x1c CLEAR_INTERRUPT
 *
 * "Now" is the time source passed in (host wall clock in ns since the epoch
 * in real-time mode, the virtual clock in deterministic mode) plus an offset
 * that guest writes to TIME_* adjust. The alarm fires through a Scheduler
 * timer placed (alarm - now) ns ahead on the virtual clock.
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import type { Scheduler, Timer } from '../../sync/work.js';
import type { IrqLine } from '../irq.js';

export const GOLDFISH_RTC_SIZE = 0x24;

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

const MASK64 = (1n << 64n) - 1n;
const LOW32 = 0xffffffffn;
/** Longest alarm delay the scheduler can hold (virtual ns are below 2^53). */
const MAX_DELAY = BigInt(Number.MAX_SAFE_INTEGER);

/** Nanoseconds since the Unix epoch from the host clock (the default real-time source). */
export function hostWallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class GoldfishRtc implements DeviceOwner {
  readonly name = 'goldfish_rtc';
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly mr: MemoryRegion;

  private offset = 0n;
  private timeHigh = 0;
  private alarmNext = 0n;
  private alarmRunning = false;
  private irqPending = false;
  private irqEnabled = false;
  private irqLevel = false;
  private readonly timer: Timer;

  constructor(
    private readonly irq: IrqLine,
    private readonly scheduler: Scheduler,
    private readonly timeNs: () => bigint | number = hostWallClockNs,
  ) {
    this.timer = scheduler.newTimer(() => this.alarmFired(), this);
    const ops: MemoryRegionOps = {
      read: (off) => this.read(off),
      write: (off, v) => this.write(off, v),
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
    };
    this.mr = MemoryRegion.io('goldfish_rtc', GOLDFISH_RTC_SIZE, ops, { owner: this });
  }

  /** The guest-visible time in ns (64-bit wrapping). */
  now(): bigint {
    const t = this.timeNs();
    return (BigInt(typeof t === 'number' ? Math.floor(t) : t) + this.offset) & MASK64;
  }

  reset(): void {
    // The clock keeps running across reset (it is a battery-backed RTC); alarm and interrupt do not.
    this.timer.del();
    this.alarmNext = 0n;
    this.alarmRunning = false;
    this.irqPending = false;
    this.irqEnabled = false;
    this.timeHigh = 0;
    this.update();
  }

  private read(off: number): number {
    switch (off) {
      case TIME_LOW: {
        const t = this.now();
        this.timeHigh = Number(t >> 32n);
        return Number(t & LOW32);
      }
      case TIME_HIGH:
        return this.timeHigh;
      case ALARM_LOW:
        return Number(this.alarmNext & LOW32);
      case ALARM_HIGH:
        return Number(this.alarmNext >> 32n);
      case IRQ_ENABLED:
        return this.irqEnabled ? 1 : 0;
      case ALARM_STATUS:
        return this.alarmRunning ? 1 : 0;
      default:
        return 0;
    }
  }

  private write(off: number, value: number): void {
    const v = BigInt(value >>> 0);
    switch (off) {
      case TIME_LOW:
      case TIME_HIGH: {
        const cur = this.now();
        const next = off === TIME_LOW ? (cur & ~LOW32) | v : (cur & LOW32) | (v << 32n);
        this.offset = (this.offset + (next - cur)) & MASK64;
        return;
      }
      case ALARM_LOW:
        this.alarmNext = (this.alarmNext & ~LOW32 & MASK64) | v;
        this.setAlarm();
        return;
      case ALARM_HIGH:
        this.alarmNext = (this.alarmNext & LOW32) | (v << 32n);
        return;
      case IRQ_ENABLED:
        this.irqEnabled = (value & 1) === 1;
        this.update();
        return;
      case CLEAR_ALARM:
        this.timer.del();
        this.alarmRunning = false;
        return;
      case CLEAR_INTERRUPT:
        this.irqPending = false;
        this.update();
        return;
      default:
        return;
    }
  }

  private setAlarm(): void {
    const now = this.now();
    const delay = this.alarmNext - now;
    if (delay <= 0n) {
      this.timer.del();
      this.alarmRunning = false;
      this.irqPending = true;
      this.update();
      return;
    }
    this.alarmRunning = true;
    const deadline = this.scheduler.clock.now() + Number(delay > MAX_DELAY ? MAX_DELAY : delay);
    if (deadline <= Number.MAX_SAFE_INTEGER) this.timer.mod(deadline);
    else this.timer.del(); // further away than the clock can count: armed but never fires
  }

  private alarmFired(): void {
    // The time source may run at a different pace than the virtual clock: re-check.
    if (this.alarmNext > this.now()) {
      this.setAlarm();
      return;
    }
    this.alarmRunning = false;
    this.irqPending = true;
    this.update();
  }

  private update(): void {
    const level = this.irqPending && this.irqEnabled;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }
}
