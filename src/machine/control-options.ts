/**
 * The control-plane options (QEMU's): `-chardev`, `-monitor`, `-mon`,
 * `-qmp`, `-qmp-pretty`, the help and version requests (`-machine help`,
 * `-cpu help`, `-device help`, `-device DRIVER,help`, `-drive help`,
 * `-d help`, `-version`), `-name`, `-pidfile`, `-daemonize`, `-D`,
 * `-no-shutdown`, `-S`, `-cpu`. Pure: options.ts calls `applyControlOption`
 * for every option before its own switch; nothing here touches the host.
 */
import { CharDevSpecError } from '../hw/char/chardev.js';
import { checkChardevId, parseChardev, parseLegacyChardev, type ChardevSpec } from '../hw/char/chardev-spec.js';

export interface MonitorSpec {
  /** The chardev the monitor runs on. */
  chardev: string;
  mode: 'readline' | 'control';
  pretty: boolean;
}

export type HelpTopic = 'machine' | 'cpu' | 'device' | 'drive' | 'd' | 'version' | 'chardev' | 'accel';

export interface ControlConfig {
  /** From -chardev, and the backends -monitor/-qmp create (compat_monitorN), in order. */
  chardevs: ChardevSpec[];
  monitors: MonitorSpec[];
  /** -monitor none: no monitor, not even the one QEMU muxes on the stdio console. */
  monitorNone: boolean;
  /** The first help/version request: run.ts prints it and exits 0 without building a machine. */
  help: { topic: HelpTopic; driver?: string } | null;
  name?: string;
  /** -name debug-threads=... and the like are accepted and ignored; the guest name is `name`. */
  pidfile?: string;
  /** -D: where -d log lines go instead of stderr. */
  logfile?: string;
  daemonize: boolean;
  /** -no-shutdown: a guest poweroff stops the machine (the monitor stays up) instead of ending the run. */
  noShutdown: boolean;
  /** -S: do not start the harts until `cont` (QMP or the human monitor). */
  startPaused: boolean;
  cpu?: string;
}

/** Each error is one line naming the option (options.ts turns it into an OptionError). */
export class ControlOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlOptionError';
  }
}

export const CONTROL_WITH_ARG: readonly string[] = ['chardev', 'mon', 'qmp', 'qmp-pretty', 'monitor', 'name', 'pidfile', 'D', 'cpu'];
export const CONTROL_FLAGS: readonly string[] = ['version', 'daemonize', 'no-shutdown', 'S'];
/** The CPU models tsvmm has (QEMU 7.2's riscv64 default is rv64). */
export const CPU_MODELS: readonly string[] = ['rv64'];

export function defaultControlConfig(): ControlConfig {
  return { chardevs: [], monitors: [], monitorNone: false, help: null, daemonize: false, noShutdown: false, startPaused: false };
}

const isHelp = (v: string): boolean => v === 'help' || v === '?';

function nextCompatId(cfg: ControlConfig): string {
  const used = new Set(cfg.chardevs.map((c) => c.id));
  for (let i = 0; ; i++) if (!used.has(`compat_monitor${i}`)) return `compat_monitor${i}`;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CharDevSpecError) throw new ControlOptionError(e.message);
    throw e;
  }
}

/** `-monitor SPEC` / `-qmp SPEC`: a legacy chardev with a monitor on it. */
function legacyMonitor(cfg: ControlConfig, option: string, val: string, mode: MonitorSpec['mode'], pretty: boolean): void {
  if (val === 'none') {
    if (mode === 'readline') cfg.monitorNone = true;
    return;
  }
  const l = wrap(() => parseLegacyChardev(val, nextCompatId(cfg), `-${option}`));
  if (l.kind === 'none') return;
  if (l.kind === 'ref') {
    cfg.monitors.push({ chardev: l.id, mode, pretty });
    return;
  }
  cfg.chardevs.push(l.spec);
  cfg.monitors.push({ chardev: l.spec.id, mode, pretty });
}

/** Apply one option if it is a control-plane option (or a help request); false: not ours. */
export function applyControlOption(cfg: ControlConfig, name: string, val: string | undefined): boolean {
  const help = (topic: HelpTopic, driver?: string): true => {
    cfg.help ??= { topic, driver };
    return true;
  };
  switch (name) {
    case 'version':
      return help('version');
    case 'daemonize':
      cfg.daemonize = true;
      return true;
    case 'no-shutdown':
      cfg.noShutdown = true;
      return true;
    case 'S':
      cfg.startPaused = true;
      return true;
  }
  if (val === undefined) return false;
  switch (name) {
    case 'machine':
    case 'M': {
      const first = val.split(',')[0]!;
      if (isHelp(first) || /(^|,)help(,|$)/.test(val.split(',').slice(1).join(','))) return help('machine');
      return false;
    }
    case 'cpu': {
      if (isHelp(val)) return help('cpu');
      const model = val.split(',')[0]!;
      if (!CPU_MODELS.includes(model)) throw new ControlOptionError(`-cpu ${val}: unable to find CPU model '${model}' (-cpu help lists them)`);
      if (val.includes(',')) throw new ControlOptionError(`-cpu ${val}: CPU properties are not supported`);
      cfg.cpu = model;
      return true;
    }
    case 'device': {
      const parts = val.split(',');
      if (isHelp(parts[0]!)) return help('device');
      if (parts.slice(1).some(isHelp)) return help('device', parts[0]!.startsWith('driver=') ? parts[0]!.slice(7) : parts[0]!);
      return false;
    }
    case 'drive':
      if (isHelp(val) || val.split(',').some(isHelp)) return help('drive');
      return false;
    case 'd':
      if (val.split(',').some(isHelp)) return help('d');
      return false;
    case 'accel':
      if (isHelp(val)) return help('accel');
      return false;
    case 'chardev': {
      if (isHelp(val)) return help('chardev');
      const spec = wrap(() => parseChardev(val));
      if (cfg.chardevs.some((c) => c.id === spec.id)) throw new ControlOptionError(`-chardev ${val}: duplicate chardev id '${spec.id}'`);
      cfg.chardevs.push(spec);
      return true;
    }
    case 'monitor':
      legacyMonitor(cfg, 'monitor', val, 'readline', false);
      return true;
    case 'qmp':
      legacyMonitor(cfg, 'qmp', val, 'control', false);
      return true;
    case 'qmp-pretty':
      legacyMonitor(cfg, 'qmp-pretty', val, 'control', true);
      return true;
    case 'mon': {
      let chardev: string | undefined;
      let mode: MonitorSpec['mode'] = 'readline';
      let pretty = false;
      for (const p of val.split(',')) {
        const [k, v = 'on'] = p.split('=', 2) as [string, string?];
        if (k === 'chardev') chardev = v;
        else if (k === 'mode' && (v === 'control' || v === 'readline')) mode = v;
        else if (k === 'pretty' && (v === 'on' || v === 'off')) pretty = v === 'on';
        else if (k === 'id') continue;
        else throw new ControlOptionError(`-mon ${val}: unsupported property '${p}' (chardev=ID, mode=readline|control, pretty=on|off)`);
      }
      if (chardev === undefined) throw new ControlOptionError(`-mon ${val}: Parameter 'chardev' is missing`);
      wrap(() => checkChardevId(chardev, `-mon ${val}`));
      cfg.monitors.push({ chardev, mode, pretty });
      return true;
    }
    case 'name': {
      // QEMU: -name [guest=]NAME[,process=..][,debug-threads=on|off]
      const parts = val.replace(/,,/g, '\u0000').split(',').map((p) => p.replace(/\u0000/g, ','));
      for (const [i, p] of parts.entries()) {
        if (p.startsWith('guest=')) cfg.name = p.slice(6);
        else if (i === 0 && !p.includes('=')) cfg.name = p;
        else if (p.startsWith('process=') || p.startsWith('debug-threads=')) continue;
        else throw new ControlOptionError(`-name ${val}: unsupported property '${p}'`);
      }
      return true;
    }
    case 'pidfile':
      if (val === '') throw new ControlOptionError('-pidfile: missing file name');
      cfg.pidfile = val;
      return true;
    case 'D':
      if (val === '') throw new ControlOptionError('-D: missing file name');
      cfg.logfile = val;
      return true;
  }
  return false;
}
