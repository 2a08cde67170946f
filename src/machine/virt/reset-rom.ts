/**
 * The reset vector QEMU 7.2 writes into `riscv_virt_board.mrom` at 0x1000
 * (recorded in shared/reference/qemu-virt/qemu-monitor-mmio.txt), followed by
 * OpenSBI's fw_dynamic info block at 0x1028:
 *
 *   0x1000 auipc t0, 0          ; t0 = 0x1000
 *   0x1004 addi  a2, t0, 40     ; a2 = &fw_dynamic_info (0x1028)
 *   0x1008 csrr  a0, mhartid
 *   0x100c ld    a1, 32(t0)     ; a1 = DTB address
 *   0x1010 ld    t0, 24(t0)     ; t0 = start address
 *   0x1014 jr    t0
 *   0x1018 .dword start         ; 0x80000000
 *   0x1020 .dword fdt
 *   0x1028 fw_dynamic_info { magic "OSBI", version 2, next_addr, next_mode, options, boot_hart }
 */

export const RESET_VECTOR = 0x1000;
export const FW_DYNAMIC_INFO_ADDR = 0x1028;
/** "OSBI" little-endian. */
export const FW_DYNAMIC_INFO_MAGIC = 0x4942534f;
export const FW_DYNAMIC_INFO_VERSION = 2;
/** fw_dynamic next_mode values. */
export const NEXT_MODE_U = 0;
export const NEXT_MODE_S = 1;
export const NEXT_MODE_M = 3;

const RESET_CODE = [0x00000297, 0x02828613, 0xf1402573, 0x0202b583, 0x0182b283, 0x00028067];

export interface ResetRomParams {
  startAddr: number;
  fdtAddr: number;
  /** Where OpenSBI fw_dynamic jumps next (the kernel), 0 when none. */
  nextAddr: number;
  nextMode?: number;
  bootHart?: number;
}

/** The 0x58 bytes QEMU places at 0x1000 (reset code, addresses, fw_dynamic info). */
export function buildResetRom(p: ResetRomParams): Uint8Array {
  const b = new Uint8Array(0x58);
  const dv = new DataView(b.buffer);
  RESET_CODE.forEach((w, i) => dv.setUint32(i * 4, w, true));
  const put64 = (off: number, v: number): void => {
    dv.setUint32(off, v >>> 0, true);
    dv.setUint32(off + 4, Math.floor(v / 0x100000000), true);
  };
  put64(0x18, p.startAddr);
  put64(0x20, p.fdtAddr);
  put64(0x28, FW_DYNAMIC_INFO_MAGIC);
  put64(0x30, FW_DYNAMIC_INFO_VERSION);
  put64(0x38, p.nextAddr);
  put64(0x40, p.nextMode ?? NEXT_MODE_S);
  put64(0x48, 0);
  put64(0x50, p.bootHart ?? 0);
  return b;
}
