/**
 * From options to chardevs: create every `-chardev` and the backends that
 * `-serial`, `-monitor` and `-qmp` name in QEMU's legacy syntax, pick the
 * console UART's backend and list the monitors to start.
 *
 * tsvmm behaves as QEMU with -nographic: with no -serial and no monitor
 * option the console is `mon:stdio` (the human monitor one Ctrl-A c away;
 * escapes are interpreted when stdin is a terminal); `-monitor stdio` with no
 * -serial shares stdio with the console the same way.
 */
import { NullBackend, type CharBackend } from '../hw/char/chardev.js';
import type { ChardevRegistry } from '../hw/char/chardev-registry.js';
import type { ChardevSpec } from '../hw/char/chardev-spec.js';
import type { MonitorSpec } from './control-options.js';
import type { RunConfig } from './options.js';

export interface ChardevSetup {
  /** The console UART's backend. */
  serial: CharBackend;
  /** Monitors to start once the machine exists. */
  monitors: MonitorSpec[];
}

export function setupChardevs(cfg: RunConfig, reg: ChardevRegistry): ChardevSetup {
  const ctl = cfg.control;
  const monitors = [...ctl.monitors];
  let chardevs: ChardevSpec[] = ctl.chardevs;
  let serialSpec = cfg.serial[0];
  let escapes: 'always' | 'tty' = 'always';
  if (serialSpec === undefined) {
    // -monitor stdio with no -serial: the console and the monitor share stdio (a mux).
    const stdioMon = monitors.find((m) => chardevs.some((c) => c.id === m.chardev && c.backend === 'stdio' && m.chardev.startsWith('compat_monitor')));
    const wantMonitor = !ctl.monitorNone && (monitors.length === 0 || stdioMon !== undefined);
    if (stdioMon) chardevs = chardevs.filter((c) => c.id !== stdioMon.chardev);
    serialSpec = { kind: 'new', spec: { backend: 'stdio', id: 'serial0', mux: wantMonitor, signal: true }, monitor: false };
    if (wantMonitor) {
      if (stdioMon) stdioMon.chardev = 'serial0';
      else monitors.push({ chardev: 'serial0', mode: 'readline', pretty: false });
    }
    escapes = stdioMon ? 'always' : 'tty';
  }
  for (const spec of chardevs) reg.add(spec);
  let serial: CharBackend;
  switch (serialSpec.kind) {
    case 'none':
      serial = new NullBackend();
      break;
    case 'ref':
      serial = reg.claim(serialSpec.id, 'serial0');
      break;
    case 'new': {
      const spec = serialSpec.spec;
      reg.add(spec, escapes);
      serial = reg.claim(spec.id, 'serial0');
      if (serialSpec.monitor) monitors.unshift({ chardev: spec.id, mode: 'readline', pretty: false });
      break;
    }
  }
  return { serial, monitors };
}
