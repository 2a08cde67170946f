/**
 * Minimal stand-ins for board devices whose real models are not wired yet
 * (goldfish RTC, CFI flash, fw_cfg): same region names, sizes and kinds as
 * QEMU's, so the memory map is exact; reads return zero (the RTC returns the
 * host time) and writes are ignored. The machine uses the real devices from
 * src/hw when they are available.
 */
import { MemoryRegion } from '../../memory/region.js';
import { deviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';

const zeroOps: MemoryRegionOps = { read: () => 0, write: () => {}, valid: { min: 1, max: 8 }, impl: { min: 1, max: 4 } };

export function standInRtc(nowNs: () => number): MemoryRegion {
  const ops: MemoryRegionOps = {
    read: (off) => {
      const ns = nowNs();
      if (off === 0) return ns % 0x100000000 >>> 0;
      if (off === 4) return Math.floor(ns / 0x100000000) >>> 0;
      return 0;
    },
    write: () => {},
    valid: { min: 4, max: 4 },
    impl: { min: 4, max: 4 },
  };
  return MemoryRegion.io('goldfish_rtc', 0x24, ops, { owner: deviceOwner('goldfish_rtc') });
}

export function standInFlash(name: string, size: number): MemoryRegion {
  return MemoryRegion.romDevice(name, size, zeroOps, { owner: deviceOwner(name) });
}

export function standInFwCfg(): { data: MemoryRegion; ctl: MemoryRegion; dma: MemoryRegion } {
  const owner = deviceOwner('fw_cfg');
  return {
    data: MemoryRegion.io('fwcfg.data', 8, zeroOps, { owner }),
    ctl: MemoryRegion.io('fwcfg.ctl', 2, zeroOps, { owner }),
    dma: MemoryRegion.io('fwcfg.dma', 8, zeroOps, { owner }),
  };
}
