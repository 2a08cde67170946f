/**
 * QEMU's firmware configuration device, MMIO flavour ("qemu,fw-cfg-mmio"),
 * as three regions the machine maps at base, base + 8 and base + 0x10:
 *
 *   fwcfg.data (8 bytes)  reads return the selected item's next bytes in
 *                         order (a 4-byte load yields 4 consecutive bytes in
 *                         memory order: the device is big-endian); writes are
 *                         ignored, as in QEMU since 2.4.
 *   fwcfg.ctl  (2 bytes)  big-endian 16-bit selector; selecting rewinds.
 *   fwcfg.dma  (8 bytes)  big-endian 64-bit address of a FWCfgDmaAccess
 *                         {control BE32, length BE32, address BE64}; writing
 *                         the low half (or all 8 bytes) starts the transfer.
 *                         Up to DMA_BYTES_PER_TURN it completes before the
 *                         write returns; a longer one goes on from a bottom
 *                         half, that many bytes per event-loop turn, and the
 *                         control word stays non-zero until it is done (drivers
 *                         poll it: Linux, U-Boot and OpenSBI do). Reads give
 *                         the signature "QEMU CFG".
 *
 * Items: 0x0000 signature "QEMU", 0x0001 feature bits (1 traditional, 2 DMA),
 * 0x0019 the file directory (count BE32, then {size BE32, select BE16,
 * reserved BE16, name[56]} sorted by name), files from 0x0020 in name order.
 * Numeric items the machine sets (RAM size, CPU count, ...) are little-endian
 * as QEMU stores them.
 */
import { MemoryRegion } from '../../memory/region.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import { MEMTX_OK, type MemoryRegionOps, type MemTxResult } from '../../memory/types.js';
import type { BottomHalf, Scheduler } from '../../machine/event-loop-types.js';

/** What DMA needs of an address space (AddressSpace satisfies it). */
export interface FwCfgDmaSpace {
  read(addr: number, buf: Uint8Array): MemTxResult;
  write(addr: number, buf: Uint8Array): MemTxResult;
}

export class FwCfgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FwCfgError';
  }
}

export const FW_CFG_SIGNATURE = 0x0000;
export const FW_CFG_ID = 0x0001;
export const FW_CFG_UUID = 0x0002;
export const FW_CFG_RAM_SIZE = 0x0003;
export const FW_CFG_NOGRAPHIC = 0x0004;
export const FW_CFG_NB_CPUS = 0x0005;
export const FW_CFG_BOOT_MENU = 0x000e;
export const FW_CFG_MAX_CPUS = 0x000f;
export const FW_CFG_FILE_DIR = 0x0019;
export const FW_CFG_FILE_FIRST = 0x0020;
const FW_CFG_WRITE_CHANNEL = 0x4000;
const FW_CFG_MAX_FILE_PATH = 56;

const DMA_CTL_ERROR = 0x01;
const DMA_CTL_READ = 0x02;
const DMA_CTL_SKIP = 0x04;
const DMA_CTL_SELECT = 0x08;
const DMA_CTL_WRITE = 0x10;

const TWO32 = 2 ** 32;
const ZERO_CHUNK = 64 * 1024;
/**
 * Bytes a DMA moves per event-loop turn. A guest may point a transfer of up
 * to 4 GiB at MMIO (the flash bank, say: about 10 ms per 32 KiB on a busy host); this bounds
 * the time one turn spends there, so SIGTERM, the monitor and other devices stay responsive.
 */
export const DMA_BYTES_PER_TURN = 32 * 1024;

interface Item {
  data: Uint8Array;
  writable: boolean;
}

interface FileEntry {
  name: string;
  item: Item;
}

export interface FwCfgOptions {
  /** Maximum number of files (QEMU's x-file-slots; virt: 32). */
  fileSlots?: number;
  /** Runs long DMA transfers in per-turn steps; without one, a transfer completes inside the write. */
  scheduler?: Scheduler;
}

/** A DMA transfer in progress (the descriptor was read when it started). */
interface DmaRun {
  readonly desc: number;
  read: boolean;
  write: boolean;
  length: number;
  address: number;
  status: number;
}

export class FwCfg implements DeviceOwner {
  readonly name = 'fw_cfg';
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly data: MemoryRegion;
  readonly ctl: MemoryRegion;
  readonly dmaMr: MemoryRegion;

  private readonly items = new Map<number, Item>();
  private files: FileEntry[] = [];
  private readonly fileSlots: number;
  private cur: Item | null = null;
  private curOffset = 0;
  private dmaHi = 0;
  private zero: Uint8Array | null = null;
  /** DMA transfers that ended with the error bit. */
  dmaErrors = 0;
  /** The transfer still running (a long one, continued from the bottom half). */
  private running: DmaRun | null = null;
  private readonly dmaBh: BottomHalf | null;
  /** Most bytes one step moved (tests: the per-turn bound holds). */
  maxStepBytes = 0;

  constructor(
    private readonly dma: FwCfgDmaSpace | null,
    opts: FwCfgOptions = {},
  ) {
    this.fileSlots = opts.fileSlots ?? 32;
    this.dmaBh = opts.scheduler ? opts.scheduler.newBottomHalf(() => this.dmaContinue(), this) : null;
    this.setItem(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.addI32(FW_CFG_ID, dma ? 0x3 : 0x1);
    this.rebuildDirectory();

    const dataOps: MemoryRegionOps = {
      read: (_off, size) => this.dataRead(size),
      write: () => {},
      endianness: 'big',
      valid: { min: 1, max: 8 },
      impl: { min: 1, max: 4 },
    };
    const ctlOps: MemoryRegionOps = {
      read: () => 0,
      write: (_off, v) => this.select(v & 0xffff),
      endianness: 'big',
      valid: { min: 2, max: 2 },
      impl: { min: 2, max: 2 },
    };
    const dmaOps: MemoryRegionOps = {
      read: (off) => (off === 0 ? 0x51454d55 : 0x20434647), // "QEMU CFG"
      write: (off, v) => this.dmaWrite(off, v),
      endianness: 'big',
      valid: { min: 4, max: 8 },
      impl: { min: 4, max: 4 },
    };
    this.data = MemoryRegion.io('fwcfg.data', 8, dataOps, { owner: this });
    this.ctl = MemoryRegion.io('fwcfg.ctl', 2, ctlOps, { owner: this });
    this.dmaMr = MemoryRegion.io('fwcfg.dma', 8, dmaOps, { owner: this });
  }

  /** Map the three regions as QEMU's virt does (data +0, ctl +8, dma +0x10). */
  mapInto(container: MemoryRegion, base: number): void {
    container.addSubregion(base, this.data);
    container.addSubregion(base + 8, this.ctl);
    if (this.dma) container.addSubregion(base + 0x10, this.dmaMr);
  }

  reset(): void {
    this.select(FW_CFG_SIGNATURE);
    this.dmaHi = 0;
    // A transfer still running is abandoned: nothing more reaches guest memory.
    this.running = null;
    this.dmaBh?.cancel();
  }

  /** Whether a DMA transfer is still in progress. */
  get dmaBusy(): boolean {
    return this.running !== null;
  }

  // --- configuration API (machine setup; throws on misuse) ---

  /** Set a numbered item (below FW_CFG_FILE_FIRST, or an arch-local 0x8000+ key). */
  setItem(key: number, bytes: Uint8Array): void {
    if (!Number.isInteger(key) || key < 0 || key > 0xffff || key & FW_CFG_WRITE_CHANNEL) {
      throw new FwCfgError(`fw_cfg: bad item key ${key}`);
    }
    if (key === FW_CFG_FILE_DIR || (key >= FW_CFG_FILE_FIRST && key < 0x4000)) {
      throw new FwCfgError(`fw_cfg: key 0x${key.toString(16)} is reserved for files; use addFile`);
    }
    this.items.set(key, { data: bytes.slice(), writable: false });
  }

  addI16(key: number, v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.setItem(key, b);
  }

  addI32(key: number, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.setItem(key, b);
  }

  addI64(key: number, v: bigint | number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.setItem(key, b);
  }

  /** Add a named file (e.g. "etc/boot-fail-wait"); `writable` lets the guest DMA into it. */
  addFile(name: string, bytes: Uint8Array, opts: { writable?: boolean } = {}): void {
    const enc = new TextEncoder().encode(name);
    if (name.length === 0 || enc.length >= FW_CFG_MAX_FILE_PATH || enc.includes(0)) {
      throw new FwCfgError(`fw_cfg: file name "${name}" must be 1..${FW_CFG_MAX_FILE_PATH - 1} bytes without NUL`);
    }
    if (this.files.some((f) => f.name === name)) throw new FwCfgError(`fw_cfg: duplicate file name "${name}"`);
    if (this.files.length >= this.fileSlots) {
      throw new FwCfgError(`fw_cfg: no free file slot for "${name}" (${this.fileSlots} slots)`);
    }
    this.files.push({ name, item: { data: bytes.slice(), writable: opts.writable ?? false } });
    // Sorted by name, keys follow the order (QEMU's non-legacy layout).
    this.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.rebuildDirectory();
  }

  /** Selector key of a file, or -1. */
  fileKey(name: string): number {
    const i = this.files.findIndex((f) => f.name === name);
    return i < 0 ? -1 : FW_CFG_FILE_FIRST + i;
  }

  /** Current contents of a file (guest DMA writes land here). */
  fileData(name: string): Uint8Array | null {
    return this.files.find((f) => f.name === name)?.item.data ?? null;
  }

  private rebuildDirectory(): void {
    const dir = new Uint8Array(4 + 64 * this.files.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, this.files.length, false);
    this.files.forEach((f, i) => {
      const o = 4 + 64 * i;
      dv.setUint32(o, f.item.data.length, false);
      dv.setUint16(o + 4, FW_CFG_FILE_FIRST + i, false);
      dir.set(new TextEncoder().encode(f.name), o + 8);
    });
    this.items.set(FW_CFG_FILE_DIR, { data: dir, writable: false });
  }

  private lookup(key: number): Item | null {
    const k = key & ~FW_CFG_WRITE_CHANNEL;
    const idx = k & 0x3fff;
    if (!(k & 0x8000) && idx >= FW_CFG_FILE_FIRST) return this.files[idx - FW_CFG_FILE_FIRST]?.item ?? null;
    return this.items.get(k) ?? null;
  }

  // --- guest interface ---

  private select(key: number): void {
    this.cur = this.lookup(key);
    this.curOffset = 0;
  }

  private nextByte(): number {
    const it = this.cur;
    if (!it || this.curOffset >= it.data.length) return 0;
    return it.data[this.curOffset++]!;
  }

  private dataRead(size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + this.nextByte();
    return v >>> 0;
  }

  private dmaWrite(off: number, v: number): void {
    if (off === 0) {
      this.dmaHi = v >>> 0;
      return;
    }
    const addr = this.dmaHi * TWO32 + (v >>> 0);
    this.dmaHi = 0;
    this.dmaTransfer(addr);
  }

  private dmaTransfer(addr: number): void {
    const dma = this.dma;
    if (!dma) return;
    if (this.running) {
      // One transfer at a time: a second request while one runs fails at once.
      this.finishDma(addr, DMA_CTL_ERROR);
      return;
    }
    const desc = new Uint8Array(16);
    const dv = new DataView(desc.buffer);
    if (dma.read(addr, desc) !== MEMTX_OK) {
      this.finishDma(addr, DMA_CTL_ERROR);
      return;
    }
    const control = dv.getUint32(0, false);
    let length = dv.getUint32(4, false);
    const address = dv.getUint32(8, false) * TWO32 + dv.getUint32(12, false);
    if (control & DMA_CTL_SELECT) this.select(control >>> 16);
    let read = false;
    let write = false;
    if (control & DMA_CTL_READ) read = true;
    else if (control & DMA_CTL_WRITE) write = true;
    else if (!(control & DMA_CTL_SKIP)) length = 0;
    const run: DmaRun = { desc: addr, read, write, length, address, status: 0 };
    if (this.dmaStep(run)) return;
    if (this.dmaBh) {
      this.running = run;
      this.dmaBh.schedule();
    } else {
      while (!this.dmaStep(run));
    }
  }

  private dmaContinue(): void {
    const run = this.running;
    if (!run) return;
    if (this.dmaStep(run)) this.running = null;
    else this.dmaBh!.schedule();
  }

  /** Move up to DMA_BYTES_PER_TURN bytes of `run`; true (and completion written) when it is done. */
  private dmaStep(run: DmaRun): boolean {
    const dma = this.dma!;
    let budget = DMA_BYTES_PER_TURN;
    let moved = 0;
    while (run.length > 0 && !(run.status & DMA_CTL_ERROR) && budget > 0) {
      const it = this.cur;
      let len: number;
      if (!it || this.curOffset >= it.data.length) {
        // Past the end (or nothing selected): reads fill zeros, writes fail.
        len = Math.min(run.length, budget);
        if (run.read) run.status |= this.fillZeros(run.address, len);
        if (run.write) run.status |= DMA_CTL_ERROR;
      } else {
        len = Math.min(run.length, it.data.length - this.curOffset, budget);
        const window = it.data.subarray(this.curOffset, this.curOffset + len);
        if (run.read && dma.write(run.address, window) !== MEMTX_OK) run.status |= DMA_CTL_ERROR;
        if (run.write) {
          // A write must fit in the item (checked on each step: the rest of it must).
          if (!it.writable || it.data.length - this.curOffset < run.length) run.status |= DMA_CTL_ERROR;
          else if (dma.read(run.address, window) !== MEMTX_OK) run.status |= DMA_CTL_ERROR;
        }
        this.curOffset += len;
      }
      run.address += len;
      run.length -= len;
      budget -= len;
      moved += len;
    }
    if (moved > this.maxStepBytes) this.maxStepBytes = moved;
    if (run.length > 0 && !(run.status & DMA_CTL_ERROR)) return false;
    this.finishDma(run.desc, run.status);
    return true;
  }

  private fillZeros(address: number, len: number): number {
    this.zero ??= new Uint8Array(ZERO_CHUNK);
    for (let done = 0; done < len; done += ZERO_CHUNK) {
      const n = Math.min(ZERO_CHUNK, len - done);
      if (this.dma!.write(address + done, this.zero.subarray(0, n)) !== MEMTX_OK) return DMA_CTL_ERROR;
    }
    return 0;
  }

  /** Report completion: control becomes 0, or just the error bit. */
  private finishDma(addr: number, status: number): void {
    if (status & DMA_CTL_ERROR) this.dmaErrors++;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, status & DMA_CTL_ERROR, false);
    this.dma!.write(addr, b);
  }
}

export interface VirtFwCfgDefaults {
  cpus: number;
  nographic: boolean;
}

/**
 * The items QEMU 7.2's riscv virt exposes without extra options (read back
 * from a guest under QEMU): UUID (16 zero bytes), NOGRAPHIC, NB_CPUS and
 * BOOT_MENU as LE16, and the files "bios-geometry" and "bootorder" (empty)
 * and "etc/boot-fail-wait" (LE32 -1: no reboot timeout).
 */
export function addVirtFwCfgDefaults(fw: FwCfg, d: VirtFwCfgDefaults): void {
  fw.setItem(FW_CFG_UUID, new Uint8Array(16));
  fw.addI16(FW_CFG_NOGRAPHIC, d.nographic ? 1 : 0);
  fw.addI16(FW_CFG_NB_CPUS, d.cpus);
  fw.addI16(FW_CFG_BOOT_MENU, 0);
  fw.addFile('bios-geometry', new Uint8Array(0));
  fw.addFile('bootorder', new Uint8Array(0));
  const wait = new Uint8Array(4);
  new DataView(wait.buffer).setInt32(0, -1, true);
  fw.addFile('etc/boot-fail-wait', wait);
}
