/**
 * QEMU's help and version conventions for `tsvmm run`: `-version`,
 * `-machine help`, `-cpu help`, `-device help`, `-device DRIVER,help`,
 * `-drive help`, `-d help`, `-chardev help`, `-accel help`. Each prints and
 * ends the run before any machine is built; `-drive help` is an error as in
 * QEMU (it never boots).
 */
import { UsageError } from './command.js';
import { VIRT_DEVICES, deviceHelp } from '../machine/virt/devices.js';
import { LOG_ITEMS } from '../machine/options.js';
import { CPU_MODELS, type HelpTopic } from '../machine/control-options.js';
import { CHARDEV_BACKENDS } from '../hw/char/chardev-spec.js';
import { QEMU_COMPAT, TSVMM_VERSION } from '../monitor/access.js';

export const VERSION_TEXT = `tsvmm emulator version ${TSVMM_VERSION} (QEMU ${QEMU_COMPAT.major}.${QEMU_COMPAT.minor} riscv64 virt compatible)\nCopyright (c) the tsvmm developers; MIT licence`;

const LOG_HELP: Record<(typeof LOG_ITEMS)[number], string> = {
  unimp: 'log unimplemented functionality',
  guest_errors: 'log when the guest OS does something invalid (eg accessing a non-existent register)',
};

/** The text for a help request, or a UsageError (exit 1) where QEMU fails. */
export function helpText(topic: HelpTopic, driver?: string): string {
  switch (topic) {
    case 'version':
      return VERSION_TEXT;
    case 'machine':
      return 'Supported machines are:\nvirt                 RISC-V VirtIO board (default)';
    case 'cpu':
      return CPU_MODELS.join('\n');
    case 'accel':
      return 'Accelerators supported in tsvmm:\ntcg';
    case 'chardev':
      return `Available chardev backend types:\n${CHARDEV_BACKENDS.map((b) => `  ${b}`).join('\n')}`;
    case 'd':
      return `Log items (comma separated):\n${LOG_ITEMS.map((i) => `${i.padEnd(15)} ${LOG_HELP[i]}`).join('\n')}\n\n-D FILE writes them to FILE instead of stderr.`;
    case 'drive':
      throw new UsageError(
        '-drive help: Must specify either driver or file (tsvmm takes file=PATH, if=none|virtio|pflash, format=raw, id=ID, readonly=on|off, unit=N)',
        1,
      );
    case 'device': {
      if (driver === undefined) return deviceHelp();
      const f = Object.prototype.hasOwnProperty.call(VIRT_DEVICES, driver) ? VIRT_DEVICES[driver] : undefined;
      if (!f) throw new UsageError(`-device ${driver},help: Device '${driver}' not found`, 1);
      return `${driver} options:\n  ${f.summary}`;
    }
  }
}
