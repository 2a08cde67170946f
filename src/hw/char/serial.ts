/**
 * ns16550a UART (QEMU's serial-mm with regshift 0): eight byte-wide registers.
 *
 * Transmission is instantaneous: a byte written to THR goes to the backend at
 * once, so THRE and TEMT read as set whenever the guest looks. Received bytes
 * sit in a 16-byte FIFO (one byte with FIFOs disabled); the backend is only
 * asked for more when there is room, so no input is dropped. The RX "character
 * timeout" interrupt is reported as soon as data sits below the trigger level
 * (there is no line timing to wait for).
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import type { IrqLine } from '../irq.js';
import type { CharBackend, CharFrontend } from './chardev.js';

export const SERIAL_REGION_SIZE = 8;
const FIFO_SIZE = 16;

// Register offsets.
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

// IER bits.
const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MSI = 0x08;

// IIR values.
const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_CTI = 0x0c;
const IIR_FIFO_ENABLED = 0xc0;

// FCR bits.
const FCR_FE = 0x01;
const FCR_RFR = 0x02;
const FCR_XFR = 0x04;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_INT_ANY = 0x1e; // OE | PE | FE | BI
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
const MSR_DELTA = 0x0f;
/** What a real line with nothing attached looks like (QEMU's default). */
const MSR_IDLE = MSR_DCD | MSR_DSR | MSR_CTS;

const TRIGGER_LEVELS = [1, 4, 8, 14] as const;

export interface SerialOptions {
  name?: string;
  /**
   * Called when the guest writes a byte for the backend or reads LSR with the receiver
   * empty (polling for input): the machine's event loop then hands control to the host
   * soon, which is where backends write output and receive input (EventLoop.hostIoWanted).
   */
  hostIo?: () => void;
}

/** Offsets of the registers another thread may access without the device (fastState). */
export const SERIAL_THR = RBR_THR_DLL;
export const SERIAL_LSR = LSR;
/** fastState(): LSR (its bits 0-7) reads without side effects. */
export const FAST_LSR = 0x100;
/** fastState(): a THR write has no effect but the output (no divisor latch, loopback or THRE interrupt). */
export const FAST_THR = 0x200;

/**
 * Hooks of a machine whose other threads run some accesses without the
 * device (machine/smp/posted-serial.ts): writes they accepted must reach the
 * device before anything else does, and they must see its state change.
 */
export interface SerialHooks {
  /** Before every register access and reset. */
  before(): void;
  /** After every register access, received input and reset. */
  after(): void;
}

export class Serial implements DeviceOwner, CharFrontend {
  readonly name: string;
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly mr: MemoryRegion;

  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private ier = 0;
  private fcr = 0;
  private lcr = 0;
  private mcr = MCR_OUT2;
  private lsr = LSR_THRE | LSR_TEMT;
  private msr = MSR_IDLE;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private thrPending = false;
  private irqLevel = false;
  /** Output byte count (for statistics and tests). */
  txBytes = 0;
  hooks: SerialHooks | null = null;
  private readonly hostIo: (() => void) | null;

  constructor(
    private readonly irq: IrqLine,
    private readonly backend: CharBackend,
    opts: SerialOptions = {},
  ) {
    this.name = opts.name ?? 'serial';
    this.hostIo = opts.hostIo ?? null;
    const ops: MemoryRegionOps = {
      read: (offset) => {
        this.hooks?.before();
        const v = this.readReg(offset);
        this.hooks?.after();
        return v;
      },
      write: (offset, value) => {
        this.hooks?.before();
        this.writeReg(offset, value);
        this.hooks?.after();
      },
      endianness: 'little',
      valid: { min: 1, max: 8 },
      impl: { min: 1, max: 4 },
    };
    this.mr = MemoryRegion.io('serial', SERIAL_REGION_SIZE, ops, { owner: this });
    backend.attach(this);
  }

  reset(): void {
    this.hooks?.before();
    this.rxHead = 0;
    this.rxCount = 0;
    this.ier = 0;
    this.fcr = 0;
    this.lcr = 0;
    this.mcr = MCR_OUT2;
    this.lsr = LSR_THRE | LSR_TEMT;
    this.msr = MSR_IDLE;
    this.scr = 0;
    this.dll = 0;
    this.dlm = 0;
    this.thrPending = false;
    this.update();
    this.hooks?.after();
    this.backend.acceptInput();
  }

  /** A THR write accepted elsewhere while fastState() allowed it (FAST_THR). */
  transmit(byte: number): void {
    this.writeReg(RBR_THR_DLL, byte);
  }

  /** What another thread may do without the device now: FAST_LSR | LSR, FAST_THR. */
  fastState(): number {
    let s = 0;
    if ((this.lsr & LSR_INT_ANY) === 0) s |= FAST_LSR | this.lsr;
    if ((this.lcr & LCR_DLAB) === 0 && (this.mcr & MCR_LOOP) === 0 && (this.ier & IER_THRI) === 0) s |= FAST_THR;
    return s;
  }

  /** The divisor latch (the guest's baud rate is clock / (16 * divisor)). */
  get divisor(): number {
    return this.dll | (this.dlm << 8);
  }

  // --- CharFrontend ---

  canReceive(): number {
    if (this.mcr & MCR_LOOP) return 0; // the line is disconnected in loopback
    return this.rxCapacity() - this.rxCount;
  }

  receive(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.rxPush(bytes[i]!);
    this.update();
    this.hooks?.after();
  }

  // --- registers ---

  private rxCapacity(): number {
    return this.fcr & FCR_FE ? FIFO_SIZE : 1;
  }

  private rxPush(b: number): void {
    if (this.rxCount >= this.rxCapacity()) {
      this.lsr |= LSR_OE;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = b;
    this.rxCount++;
    this.lsr |= LSR_DR;
  }

  private rxClear(): void {
    this.rxHead = 0;
    this.rxCount = 0;
    this.lsr &= ~LSR_DR;
  }

  private readReg(offset: number): number {
    switch (offset) {
      case RBR_THR_DLL: {
        if (this.lcr & LCR_DLAB) return this.dll;
        if (this.rxCount === 0) return 0;
        const b = this.rx[this.rxHead]!;
        this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
        this.rxCount--;
        if (this.rxCount === 0) this.lsr &= ~LSR_DR;
        this.update();
        this.backend.acceptInput();
        return b;
      }
      case IER_DLM:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case IIR_FCR: {
        const iid = this.interruptId();
        if (iid === IIR_THRI) {
          // Reading IIR while it reports THRE acknowledges it.
          this.thrPending = false;
          this.update();
        }
        return iid | (this.fcr & FCR_FE ? IIR_FIFO_ENABLED : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const v = this.lsr;
        if ((v & LSR_DR) === 0) this.hostIo?.();
        if (v & LSR_INT_ANY) {
          this.lsr &= ~LSR_INT_ANY;
          this.update();
        }
        return v;
      }
      case MSR: {
        const v = this.msr;
        if (v & MSR_DELTA) {
          this.msr &= ~MSR_DELTA;
          this.update();
        }
        return v;
      }
      case SCR:
        return this.scr;
      default:
        return 0;
    }
  }

  private writeReg(offset: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) {
          this.dll = v;
          return;
        }
        this.thrPending = false;
        if (this.mcr & MCR_LOOP) {
          this.rxPush(v);
        } else {
          this.txBytes++;
          this.backend.write(v);
          this.hostIo?.();
        }
        // The byte left at once: THR is empty again.
        if (this.ier & IER_THRI) this.thrPending = true;
        this.update();
        return;
      case IER_DLM: {
        if (this.lcr & LCR_DLAB) {
          this.dlm = v;
          return;
        }
        const old = this.ier;
        this.ier = v & 0x0f;
        if ((old ^ this.ier) & IER_THRI) this.thrPending = (this.ier & IER_THRI) !== 0 && (this.lsr & LSR_THRE) !== 0;
        this.update();
        return;
      }
      case IIR_FCR: {
        const oldFe = this.fcr & FCR_FE;
        if ((v & FCR_FE) !== oldFe || v & FCR_RFR) this.rxClear();
        // Clearing the (always empty) TX FIFO re-arms the THRE interrupt, as in QEMU.
        if (v & FCR_XFR) this.thrPending = true;
        this.fcr = v & 0xc9;
        this.update();
        this.backend.acceptInput();
        return;
      }
      case LCR:
        this.lcr = v;
        return;
      case MCR: {
        const wasLoop = this.mcr & MCR_LOOP;
        this.mcr = v & 0x1f;
        this.updateModemStatus();
        this.update();
        if (wasLoop && !(this.mcr & MCR_LOOP)) this.backend.acceptInput();
        return;
      }
      case SCR:
        this.scr = v;
        return;
      default:
        // LSR and MSR are read-only; writes are ignored like QEMU's factory-test path is not emulated.
        return;
    }
  }

  /**
   * MSR follows MCR in loopback; otherwise it shows an idle, connected line.
   * Like QEMU, switching between the two produces no delta bits (no host modem
   * lines are tracked), so the modem status interrupt never fires.
   */
  private updateModemStatus(): void {
    if (this.mcr & MCR_LOOP) {
      this.msr =
        (this.mcr & MCR_RTS ? MSR_CTS : 0) |
        (this.mcr & MCR_DTR ? MSR_DSR : 0) |
        (this.mcr & MCR_OUT1 ? MSR_RI : 0) |
        (this.mcr & MCR_OUT2 ? MSR_DCD : 0);
    } else {
      this.msr = MSR_IDLE;
    }
  }

  private interruptId(): number {
    if (this.ier & IER_RLSI && this.lsr & LSR_INT_ANY) return IIR_RLSI;
    if (this.ier & IER_RDI && this.rxCount > 0) {
      if (!(this.fcr & FCR_FE)) return IIR_RDI;
      return this.rxCount >= TRIGGER_LEVELS[this.fcr >> 6]! ? IIR_RDI : IIR_CTI;
    }
    if (this.ier & IER_THRI && this.thrPending) return IIR_THRI;
    if (this.ier & IER_MSI && this.msr & MSR_DELTA) return IIR_MSI;
    return IIR_NO_INT;
  }

  private update(): void {
    const level = this.interruptId() !== IIR_NO_INT;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }
}
