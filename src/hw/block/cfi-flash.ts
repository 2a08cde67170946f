/**
 * Intel/Sharp command set CFI parallel flash (QEMU's cfi.pflash01) as `virt`
 * configures it: a 4-byte bank made of two interleaved x16 devices, 128
 * blocks of 256 KiB (32 MiB), manufacturer 0x89, device 0x18.
 *
 * The bank is a ROM device: in read-array mode reads come straight from the
 * backing bytes (romd); the first command write takes the region out of romd
 * mode so reads reach the ops (status, ID, CFI query) until the guest returns
 * to read array (0xff), just as QEMU does.
 *
 * Query and ID addressing follow the bank geometry: byte offset >> 2 selects
 * the query/ID index, and each x16 device answers in its own half of the
 * 32-bit bus word. Debian's U-Boot, probing this exactly as it probes QEMU's
 * device, settles on a 16-bit port with one x16 chip and shifted addresses
 * (`flinfo`: "CFI conformant flash (16 x 16)  Size: 16 MB in 128 Sectors"
 * per bank), and the two banks make its "Flash: 32 MiB".
 *
 * Unbacked flash reads as zeros (QEMU 7.2 behaves the same: `xp` at
 * 0x20000000 on an unbacked virt shows 0x00000000). With a backing file,
 * program and erase write through to it.
 */
import type { HostServices, SyncFile } from '../../host/types.js';
import { defaultHost } from '../../host/default.js';
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';

export class FlashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlashError';
  }
}

export interface CfiFlashOptions {
  /** Region name, e.g. "virt.flash0". */
  name: string;
  numBlocks?: number;
  /** Bytes per erase block across the whole bank. */
  sectorLength?: number;
  /** Bank (bus) width in bytes. */
  bankWidth?: number;
  /** Width of each device in bytes. */
  deviceWidth?: number;
  ident0?: number;
  ident1?: number;
  /** Backing file; must be exactly the flash size. Writes persist to it. */
  backingFile?: string;
  /** Refuse program/erase (QEMU's readonly=on drive). */
  readOnly?: boolean;
  /** Where the backing file is opened (default: the platform's host). */
  host?: Pick<HostServices, 'openSyncFile'>;
}

const STATUS_READY = 0x80;
const STATUS_ERASE_ERR = 0x20;
const STATUS_PROGRAM_ERR = 0x10;

const CMD_READ_ARRAY = 0x00;

export class CfiFlash implements DeviceOwner {
  readonly name: string;
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly mr: MemoryRegion;
  readonly size: number;

  private readonly bankWidth: number;
  private readonly deviceWidth: number;
  private readonly sectorLength: number;
  private readonly numBlocks: number;
  private readonly ident0: number;
  private readonly ident1: number;
  private readonly readOnly: boolean;
  private readonly cfi = new Uint8Array(0x40);
  private readonly queryShift: number;
  private readonly writeBlockWords: number;
  private storage: Uint8Array;
  private file: SyncFile | null = null;

  private cmd = CMD_READ_ARRAY;
  private wcycle = 0;
  private status = STATUS_READY;
  private counter = 0;
  /** Guest writes refused (read-only flash) or dropped by a bad sequence. */
  errors = 0;

  constructor(opts: CfiFlashOptions) {
    this.name = opts.name;
    this.numBlocks = opts.numBlocks ?? 128;
    this.sectorLength = opts.sectorLength ?? 0x40000;
    this.bankWidth = opts.bankWidth ?? 4;
    this.deviceWidth = opts.deviceWidth ?? 2;
    this.ident0 = opts.ident0 ?? 0x89;
    this.ident1 = opts.ident1 ?? 0x18;
    this.readOnly = opts.readOnly ?? false;
    const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
    if (![1, 2, 4].includes(this.bankWidth) || ![1, 2, 4].includes(this.deviceWidth) || this.deviceWidth > this.bankWidth) {
      throw new FlashError(`${this.name}: unsupported bank width ${this.bankWidth} / device width ${this.deviceWidth}`);
    }
    if (!pow2(this.sectorLength) || !Number.isInteger(this.numBlocks) || this.numBlocks < 1 || this.numBlocks > 65536) {
      throw new FlashError(`${this.name}: bad geometry ${this.numBlocks} x ${this.sectorLength}`);
    }
    this.size = this.numBlocks * this.sectorLength;
    // Query index = byte offset / bank width (devices used at their full width).
    this.queryShift = Math.log2(this.bankWidth);
    const devices = this.bankWidth / this.deviceWidth;
    this.buildCfiTable(devices);
    this.writeBlockWords = ((1 << this.cfi[0x2a]!) * devices) / this.bankWidth;

    const ops: MemoryRegionOps = {
      read: (off, size) => this.read(off, size),
      write: (off, v, size) => this.write(off, v, size),
      endianness: 'little',
      valid: { min: 1, max: 8 },
      impl: { min: 1, max: 4 },
    };
    this.mr = MemoryRegion.romDevice(this.name, this.size, ops, { owner: this });
    this.storage = this.mr.ramBytes();
    if (opts.backingFile !== undefined) this.openBacking(opts.host ?? defaultHost, opts.backingFile);
  }

  private openBacking(host: Pick<HostServices, 'openSyncFile'>, path: string): void {
    let f: SyncFile;
    try {
      f = host.openSyncFile(path, this.readOnly);
    } catch (e) {
      throw new FlashError(`${this.name}: cannot open ${path}: ${(e as Error).message}`);
    }
    const len = f.size;
    if (len !== this.size) {
      f.close();
      throw new FlashError(`${this.name}: ${path} is ${len} bytes; the flash device requires exactly ${this.size} bytes`);
    }
    let done = 0;
    while (done < len) {
      const n = f.read(this.storage, done, len - done, done);
      if (n <= 0) break;
      done += n;
    }
    if (this.readOnly) f.close();
    else this.file = f;
  }

  /** Close the backing file (writes are already on disk). */
  close(): void {
    this.file?.close();
    this.file = null;
  }

  reset(): void {
    this.wcycle = 0;
    this.cmd = CMD_READ_ARRAY;
    this.status = STATUS_READY;
    this.counter = 0;
    this.mr.setRomdMode(true);
  }

  /** The CFI query structure of one device (JEDEC JESD68 layout, Intel extended command set). */
  private buildCfiTable(devices: number): void {
    const t = this.cfi;
    const sectorPerDevice = this.sectorLength / devices;
    const deviceLen = sectorPerDevice * this.numBlocks;
    t.set([0x51, 0x52, 0x59], 0x10); // "QRY"
    t[0x13] = 0x01; // primary command set: Intel/Sharp extended
    t[0x15] = 0x31; // primary extended table at 0x31
    t[0x1b] = 0x45; // Vcc min 4.5 V
    t[0x1c] = 0x55; // Vcc max 5.5 V
    t[0x1f] = 0x07; // typical single-word program time 2^7 us
    t[0x20] = 0x07; // typical buffer write 2^7 us
    t[0x21] = 0x0a; // typical block erase 2^10 ms
    t[0x23] = 0x04; // max word program 2^4 x typical
    t[0x24] = 0x04;
    t[0x25] = 0x04;
    t[0x27] = Math.log2(deviceLen) | 0; // device size 2^n bytes
    t[0x28] = 0x02; // x8/x16 interface
    t[0x2a] = this.bankWidth === 1 ? 0x08 : 0x0b; // max buffered write 2^n bytes
    t[0x2c] = 0x01; // one uniform erase block region
    t[0x2d] = (this.numBlocks - 1) & 0xff;
    t[0x2e] = ((this.numBlocks - 1) >> 8) & 0xff;
    t[0x2f] = (sectorPerDevice >> 8) & 0xff; // block size / 256
    t[0x30] = (sectorPerDevice >> 16) & 0xff;
    t.set([0x50, 0x52, 0x49, 0x31, 0x30], 0x31); // "PRI", version "1.0"
    t[0x3f] = 0x01; // one protection register field
  }

  /** Replicate one device's answer across the bank (each device drives its own byte lanes). */
  private replicate(v: number): number {
    let r = v & (this.deviceWidth === 4 ? 0xffffffff : (1 << (this.deviceWidth * 8)) - 1);
    for (let i = this.deviceWidth; i < this.bankWidth; i += this.deviceWidth) r |= r << (i * 8);
    return r >>> 0;
  }

  private query(off: number): number {
    const idx = off >>> this.queryShift;
    return idx < this.cfi.length ? this.replicate(this.cfi[idx]!) : 0;
  }

  private deviceId(off: number): number {
    const idx = (off >>> this.queryShift) & 0xff;
    if (idx === 0) return this.replicate(this.ident0);
    if (idx === 1) return this.replicate(this.ident1);
    return 0; // block lock status and the rest: unlocked / not emulated
  }

  private read(off: number, size: number): number {
    let v: number;
    switch (this.cmd) {
      case CMD_READ_ARRAY:
      case 0xff: {
        const s = this.storage;
        v = s[off]!;
        if (size >= 2) v |= s[off + 1]! << 8;
        if (size === 4) v |= (s[off + 2]! << 16) | (s[off + 3]! << 24);
        return v >>> 0;
      }
      case 0x90:
        v = this.deviceId(off);
        break;
      case 0x98:
        v = this.query(off);
        break;
      default:
        // Program, erase, lock, buffered write and explicit status modes read the status register.
        v = this.replicate(this.status);
        break;
    }
    return size === 4 ? v : v & ((1 << (size * 8)) - 1);
  }

  private readArray(): void {
    this.wcycle = 0;
    this.cmd = CMD_READ_ARRAY;
  }

  /** An unsupported command or sequence: back to read array. Like QEMU, no status error bits are set. */
  private fail(): void {
    this.errors++;
    this.readArray();
  }

  private eraseBlock(off: number): void {
    if (this.readOnly) {
      this.status |= STATUS_ERASE_ERR;
      this.errors++;
      return;
    }
    const base = off - (off % this.sectorLength);
    this.storage.fill(0xff, base, base + this.sectorLength);
    this.persist(base, this.sectorLength);
  }

  private persist(off: number, len: number): void {
    if (this.file === null) return;
    try {
      this.file.write(this.storage, off, len, off);
    } catch {
      // A host I/O error must not kill the guest; the write stays in memory.
      this.errors++;
    }
  }

  private program(off: number, value: number, size: number): void {
    if (this.readOnly) {
      this.status |= STATUS_PROGRAM_ERR;
      this.errors++;
      return;
    }
    const s = this.storage;
    s[off] = value & 0xff;
    if (size >= 2) s[off + 1] = (value >>> 8) & 0xff;
    if (size === 4) {
      s[off + 2] = (value >>> 16) & 0xff;
      s[off + 3] = (value >>> 24) & 0xff;
    }
    this.persist(off, size);
  }

  private write(off: number, value: number, size: number): void {
    this.command(off, value, size);
    // Reads come straight from the array (romd) only in read-array mode. Deciding once, after the
    // command, means a write that leaves the chip in read array (a reset command, a stray 0 from a
    // guest or a DMA) costs no memory-map change: toggling romd rebuilds the flat views, and did so
    // twice per word when a DMA streamed zeros into the bank (1 MiB took seconds).
    this.mr.setRomdMode(this.cmd === CMD_READ_ARRAY && this.wcycle === 0);
  }

  private command(off: number, value: number, size: number): void {
    // Commands are per device: the low device's byte lane carries it.
    const cmd = value & 0xff;
    switch (this.wcycle) {
      case 0:
        switch (cmd) {
          case 0x00: // not a command on Intel parts; QEMU treats it as a reset
          case 0xf0: // AMD reset, sent by probing firmware
          case 0xff:
            this.readArray();
            return;
          case 0x10:
          case 0x40: // word program
          case 0x60: // lock/unlock (confirm follows)
          case 0x98: // CFI query: only read array (0xff) leaves it
            this.cmd = cmd;
            this.wcycle = 1;
            return;
          case 0x20:
          case 0x28:
            // Block erase. QEMU 7.2 erases when the setup command arrives and
            // the confirm only completes the sequence; we do the same, so a
            // guest sending a bad confirm sees QEMU's result.
            this.eraseBlock(off);
            this.status |= STATUS_READY;
            this.cmd = cmd;
            this.wcycle = 1;
            return;
          case 0xe8: // buffered write: count follows
            this.cmd = cmd;
            this.status |= STATUS_READY;
            this.wcycle = 1;
            return;
          case 0x50: // clear status
            this.status = 0;
            this.readArray();
            return;
          case 0x70: // read status
          case 0x90: // read identifier
            this.cmd = cmd;
            return;
          default:
            this.fail();
            return;
        }
      case 1:
        switch (this.cmd) {
          case 0x10:
          case 0x40:
            this.program(off, value, size);
            this.status |= STATUS_READY;
            this.wcycle = 0;
            return;
          case 0x20:
          case 0x28:
            if (cmd === 0xd0) {
              this.status |= STATUS_READY;
              this.wcycle = 0;
            } else {
              this.fail(); // 0xff or a bad confirm: back to read array
            }
            return;
          case 0x98:
            if (cmd === 0xff) this.readArray();
            return; // anything else is ignored: the chip stays in query mode
          case 0x60:
            if (cmd === 0xd0 || cmd === 0x01) {
              this.status |= STATUS_READY; // locking is not emulated: blocks are always unlocked
              this.wcycle = 0;
            } else {
              this.fail();
            }
            return;
          case 0xe8: {
            // Word count - 1, per device.
            const count = value & (this.deviceWidth === 4 ? 0xffffffff : (1 << (this.deviceWidth * 8)) - 1);
            if (count >= this.writeBlockWords) {
              this.fail();
              return;
            }
            this.counter = count;
            this.wcycle = 2;
            return;
          }
          default:
            this.fail();
            return;
        }
      case 2:
        // Buffered data words (we program straight through; the confirm only ends the sequence).
        this.program(off, value, size);
        this.status |= STATUS_READY;
        if (this.counter === 0) this.wcycle = 3;
        else this.counter--;
        return;
      case 3:
        if (cmd === 0xd0) {
          this.wcycle = 0;
          this.status |= STATUS_READY;
        } else {
          this.fail();
        }
        return;
      default:
        this.fail();
    }
  }
}
