/**
 * A configuration-space register file (Xen vPCI's register model).
 *
 * A function's config space is a sparse set of registers, each 1, 2 or 4 bytes
 * wide and naturally aligned. Every bit of a register has one kind:
 *
 *   RW     written value is stored (the default for bits in no mask)
 *   RO     writes keep the old value
 *   RW1C   writing 1 clears the bit, writing 0 keeps it
 *   RsvdP  reads 0; writes keep the stored value (what a write hook sees)
 *   RsvdZ  reads 0; the stored value is forced to 0
 *
 * Accesses of 1..4 bytes at any offset are served by merging every register
 * they touch; bytes no register covers read as 0xff and drop writes. A write
 * that covers only part of a register is a read-modify-write of that register,
 * where the unwritten bytes count as "not written" (so RW1C bits there are
 * not cleared).
 *
 * Read hooks compute a register's value on demand (status bits mirrored from
 * device state); write hooks see the value the masks produced and may replace
 * what is stored (BAR address masking) or act on it (command decode changes).
 */


/** Masks and hooks of one register. Masks are relative to the register (bit 0 = its lowest bit). */
export interface ConfigRegisterSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  /** Value at reset (stored as is; masks apply to guest writes only). */
  readonly reset?: number;
  readonly ro?: number;
  readonly rw1c?: number;
  readonly rsvdp?: number;
  readonly rsvdz?: number;
  /** Computes the register's value from device state; `stored` is the register's stored value. */
  readonly read?: (stored: number) => number;
  /**
   * Called after the masks produced `value` from a guest write (`old` is the
   * value before). Returns the value to store, or undefined to store `value`.
   */
  readonly write?: (value: number, old: number) => number | void;
  /** Called after a guest write stored `value` (`old` is the value before), even if unchanged. */
  readonly changed?: (value: number, old: number) => void;
}

/** Registering a register that cannot exist (overlapping, misaligned, odd-sized, out of range, bad masks). */
export class ConfigRegisterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigRegisterError';
  }
}

interface Reg {
  readonly spec: ConfigRegisterSpec;
  readonly offset: number;
  readonly size: number;
  /** All bits of the register. */
  readonly full: number;
  readonly ro: number;
  readonly rw1c: number;
  readonly rsvdp: number;
  readonly rsvdz: number;
  /** Bits that read as 0. */
  readonly readMask: number;
  /** Bits whose stored value a write replaces. */
  readonly rwMask: number;
  value: number;
  resetValue: number;
}

function fullMask(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

function checkMask(name: string, what: string, mask: number | undefined, full: number): number {
  if (mask === undefined) return 0;
  if (!Number.isInteger(mask) || mask < 0 || mask > 0xffffffff || (mask & ~full) >>> 0 !== 0) {
    throw new ConfigRegisterError(`config register ${name}: ${what} mask 0x${mask.toString(16)} does not fit the register`);
  }
  return mask >>> 0;
}

/**
 * The register file of one function's config space (256 bytes for
 * conventional PCI, 4096 for PCI Express). Not thread-safe by itself: the
 * PCI domain's lock serialises access (see domain.ts).
 */
export class ConfigRegisters {
  readonly size: number;
  /** Register index + 1 for each byte, 0 for gaps. */
  private readonly owner: Uint16Array;
  private readonly regs: Reg[] = [];

  constructor(size: number) {
    if (size !== 256 && size !== 4096) throw new ConfigRegisterError(`config space size ${size} is neither 256 nor 4096`);
    this.size = size;
    this.owner = new Uint16Array(size);
  }

  /** Adds a register; throws ConfigRegisterError if it is odd-sized, misaligned, out of range or overlaps. */
  add(spec: ConfigRegisterSpec): void {
    const { name, offset, size } = spec;
    if (size !== 1 && size !== 2 && size !== 4) {
      throw new ConfigRegisterError(`config register ${name}: size ${String(size)} is not 1, 2 or 4`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.size) {
      throw new ConfigRegisterError(`config register ${name}: offset ${String(offset)} out of the ${this.size}-byte space`);
    }
    if (offset % size !== 0) {
      throw new ConfigRegisterError(`config register ${name}: offset 0x${offset.toString(16)} is not ${size}-byte aligned`);
    }
    for (let i = offset; i < offset + size; i++) {
      const o = this.owner[i]!;
      if (o !== 0) {
        throw new ConfigRegisterError(
          `config register ${name} at 0x${offset.toString(16)} overlaps ${this.regs[o - 1]!.spec.name} at 0x${this.regs[o - 1]!.offset.toString(16)}`,
        );
      }
    }
    const full = fullMask(size);
    const ro = checkMask(name, 'RO', spec.ro, full);
    const rw1c = checkMask(name, 'RW1C', spec.rw1c, full);
    const rsvdp = checkMask(name, 'RsvdP', spec.rsvdp, full);
    const rsvdz = checkMask(name, 'RsvdZ', spec.rsvdz, full);
    if ((ro & rw1c) | (ro & rsvdp) | (ro & rsvdz) | (rw1c & rsvdp) | (rw1c & rsvdz) | (rsvdp & rsvdz)) {
      throw new ConfigRegisterError(`config register ${name}: a bit has two kinds (RO/RW1C/RsvdP/RsvdZ masks overlap)`);
    }
    const reset = spec.reset ?? 0;
    if (!Number.isInteger(reset) || reset < 0 || reset > full) {
      throw new ConfigRegisterError(`config register ${name}: reset value does not fit ${size} bytes`);
    }
    if (this.regs.length >= 0xfffe) throw new ConfigRegisterError('too many config registers');
    const reg: Reg = {
      spec,
      offset,
      size,
      full,
      ro,
      rw1c,
      rsvdp,
      rsvdz,
      readMask: (full & ~(rsvdp | rsvdz)) >>> 0,
      rwMask: (full & ~(ro | rw1c | rsvdp | rsvdz)) >>> 0,
      value: reset >>> 0,
      resetValue: reset >>> 0,
    };
    this.regs.push(reg);
    const idx = this.regs.length;
    for (let i = offset; i < offset + size; i++) this.owner[i] = idx;
  }

  /** Whether any register covers byte `offset`. */
  covers(offset: number): boolean {
    return offset >= 0 && offset < this.size && this.owner[offset] !== 0;
  }

  /** The stored value of the register starting at `offset` (no read hook, no read mask). */
  stored(offset: number): number {
    return this.regAt(offset).value;
  }

  /** Sets the stored value of the register starting at `offset` directly (device side; no masks, no hooks). */
  setStored(offset: number, value: number): void {
    const r = this.regAt(offset);
    r.value = (value & r.full) >>> 0;
  }

  /** Sets both the stored and the reset value of the register at `offset` (device setup). */
  setResetValue(offset: number, value: number): void {
    const r = this.regAt(offset);
    r.value = r.resetValue = (value & r.full) >>> 0;
  }

  /** Restore every register's reset value (no hooks run). */
  reset(): void {
    for (const r of this.regs) r.value = r.resetValue;
  }

  /** The value the guest reads from the whole register at `offset`. */
  value(offset: number): number {
    return this.readReg(this.regAt(offset));
  }

  /**
   * Guest read of `size` (1..4) bytes at `offset`, little-endian. Out-of-range
   * bytes and gaps read as 0xff.
   */
  read(offset: number, size: number): number {
    if (!(size === 1 || size === 2 || size === 4 || size === 3) || !Number.isInteger(offset)) return 0xffffffff;
    let result = 0;
    let i = 0;
    while (i < size) {
      const at = offset + i;
      const o = at >= 0 && at < this.size ? this.owner[at]! : 0;
      if (o === 0) {
        result |= 0xff << (i * 8);
        i++;
        continue;
      }
      const r = this.regs[o - 1]!;
      const v = this.readReg(r);
      // Copy the bytes of r that fall inside [offset + i, offset + size).
      const end = Math.min(r.offset + r.size, offset + size);
      for (let b = at; b < end; b++) {
        const byte = (v >>> ((b - r.offset) * 8)) & 0xff;
        result |= byte << ((b - offset) * 8);
      }
      i += end - at;
    }
    return result >>> 0;
  }

  /**
   * Guest write of `size` (1..4) bytes at `offset`. Registers touched are
   * updated in ascending offset order; writes to gaps are dropped.
   */
  write(offset: number, size: number, value: number): void {
    if (!(size === 1 || size === 2 || size === 4 || size === 3) || !Number.isInteger(offset)) return;
    let i = 0;
    while (i < size) {
      const at = offset + i;
      const o = at >= 0 && at < this.size ? this.owner[at]! : 0;
      if (o === 0) {
        i++;
        continue;
      }
      const r = this.regs[o - 1]!;
      const end = Math.min(r.offset + r.size, offset + size);
      let newBits = 0;
      let written = 0;
      for (let b = at; b < end; b++) {
        const shift = (b - r.offset) * 8;
        newBits |= ((value >>> ((b - offset) * 8)) & 0xff) << shift;
        written |= 0xff << shift;
      }
      this.writeReg(r, newBits >>> 0, written >>> 0);
      i += end - at;
    }
  }

  /** Names and offsets of the registers, for diagnostics. */
  layout(): { name: string; offset: number; size: number }[] {
    return this.regs
      .map((r) => ({ name: r.spec.name, offset: r.offset, size: r.size }))
      .sort((a, b) => a.offset - b.offset);
  }

  private regAt(offset: number): Reg {
    const o = offset >= 0 && offset < this.size ? this.owner[offset]! : 0;
    const r = o === 0 ? undefined : this.regs[o - 1];
    if (r === undefined || r.offset !== offset) {
      throw new ConfigRegisterError(`no config register starts at 0x${offset.toString(16)}`);
    }
    return r;
  }

  private readReg(r: Reg): number {
    const raw = r.spec.read ? r.spec.read(r.value) : r.value;
    return (raw & r.readMask) >>> 0;
  }

  private writeReg(r: Reg, newBits: number, written: number): void {
    const old = r.value;
    const rw = r.rwMask & written;
    let v = (old & ~rw) | (newBits & rw);
    // RW1C: clear the bits written as 1; RsvdZ: always 0; RO and RsvdP keep old (already in `old & ~rw`).
    v &= ~(r.rw1c & written & newBits);
    v &= ~r.rsvdz;
    v = (v & r.full) >>> 0;
    if (r.spec.write) {
      const replaced = r.spec.write(v, old);
      if (replaced !== undefined) v = (replaced & r.full) >>> 0;
    }
    r.value = v;
    if (r.spec.changed) r.spec.changed(v, old);
  }
}
