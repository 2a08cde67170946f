/**
 * QEMU-syntax machine options shared by `tsvmm run` and `tsvmm mtree`.
 * Every option accepts one or two leading dashes, as QEMU's do. Errors throw
 * OptionError with a one-line message naming the option; the CLI prints it
 * and exits 1 before any guest runs.
 */
import { CharDevSpecError } from '../hw/char/chardev.js';
import { parseLegacyChardev, type LegacyCharSpec } from '../hw/char/chardev-spec.js';
import { applyControlOption, ControlOptionError, CONTROL_FLAGS, CONTROL_WITH_ARG, defaultControlConfig, type ControlConfig } from './control-options.js';

export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** A -serial argument: a new backend in QEMU's legacy syntax, a reference to a -chardev (chardev:ID), or none. */
export type SerialSpec = LegacyCharSpec;

export interface DeviceSpec {
  driver: string;
  props: Record<string, string>;
}

export interface RunConfig {
  machine: 'virt';
  ramSize: number;
  smp: number;
  bios?: string;
  kernel?: string;
  dtb?: string;
  append?: string;
  initrd?: string;
  nographic: boolean;
  serial: SerialSpec[];
  drives: Record<string, string>[];
  /** -blockdev arguments as given (src/block/drive-options.ts parses them). */
  blockdevs: string[];
  /** -snapshot: every drive gets snapshot=on unless it says otherwise. */
  snapshot: boolean;
  devices: DeviceSpec[];
  /** -netdev and -nic arguments as given (parsed by src/net/netdev.ts). */
  netdevs: string[];
  nics: string[];
  /** -fsdev local,id=..,path=..,security_model=.. (and the fsdev half of -virtfs). */
  fsdevs: Record<string, string>[];
  /** -accel tcg,thread=...; undefined: multi when -smp > 1 and no -icount (QEMU's default), else single. */
  accelThread?: 'single' | 'multi';
  /** -accel tcg,jit=on|off: translate hot guest code (default on) or interpret only. */
  accelJit?: boolean;
  /** -accel tcg,regions=on|off: write warm code as regions first (default off: docs/cpu.md, *Regions*). */
  accelRegions?: boolean;
  /** -accel tcg,threaded=on|off: threaded code for warm blocks (default on: docs/cpu.md, *Threaded code*). */
  accelThreaded?: boolean;
  /** Deterministic virtual clock: 2^shift ns per instruction (QEMU's -icount shift=N). */
  icountShift?: number;
  log: Set<string>;
  noReboot: boolean;
  /**
   * What a guest panic does (QEMU's -action panic=...): tsvmm sees Linux's
   * panic banner on the console (src/machine/panic-watch.ts).
   */
  panicAction: 'exit-failure' | 'shutdown' | 'none';
  /** Seconds between the panic banner and the panic action (-panic-delay). */
  panicDelay: number;
  debugLocks: boolean;
  /** The control plane: -chardev, -monitor/-mon/-qmp, help requests, -name, -pidfile ... (control-options.ts). */
  control: ControlConfig;
  /** -gdb DEV (-s is -gdb tcp::1234): where the gdbstub listens; checked by src/gdbstub/server.ts. */
  gdb?: string;
  /** -machine virt,iommu-sys=on: the platform RISC-V IOMMU. */
  iommuSys?: boolean;
  /** Options this command does not handle (e.g. mtree's -f), in order. */
  rest: string[];
}

export const MiB = 1024 * 1024;
/** QEMU's virt defaults to 128 MiB; tsvmm defaults to the 256 MiB the reference transcripts use. */
export const DEFAULT_RAM = 256 * MiB;
/** RAM at 0x80000000 must stay below the 64-bit PCIe window at 0x400000000 (14 GiB). */
export const MAX_RAM_MAP = 0x400000000 - 0x80000000;
/**
 * One RAM block is one SharedArrayBuffer seen through one Uint8Array, and
 * Node 20's typed arrays stop at 2^32 elements: 4 GiB until RAM is split into
 * several blocks. (The harts view RAM in 1 GiB windows, so they have no limit
 * of their own.)
 */
export const MAX_RAM = 4096 * MiB;
export const MAX_SMP = 64;

/** The -d items tsvmm implements (QEMU has more; others are rejected rather than silently ignored). */
export const LOG_ITEMS = ['unimp', 'guest_errors'] as const;

/** Parse a QEMU size: a number with an optional B/K/M/G/T suffix; a plain number means MiB (as for -m). */
/** QEMU's boolean property values. */
function parseOnOff(v: string): boolean | null {
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  return null;
}

export function parseSize(text: string, defaultUnit = MiB): number | null {
  const m = /^(\d+(?:\.\d+)?)([bkmgtBKMGT]?)(?:i?[bB])?$/.exec(text.trim());
  if (!m) return null;
  const units: Record<string, number> = { b: 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB };
  const unit = m[2] ? units[m[2].toLowerCase()]! : defaultUnit;
  const v = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(v) ? v : null;
}

/** Split QEMU's "a,key=value,b" into a positional first value and a property map. */
export function parseKeyValues(text: string, implicitKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  // ",," is an escaped comma in QEMU option values.
  const parts = text.replace(/,,/g, '\u0000').split(',').map((p) => p.replace(/\u0000/g, ','));
  parts.forEach((p, i) => {
    if (p === '') return;
    const eq = p.indexOf('=');
    if (eq < 0) {
      if (i === 0 && implicitKey) out[implicitKey] = p;
      else out[p] = 'on';
    } else out[p.slice(0, eq)] = p.slice(eq + 1);
  });
  return out;
}

export function parseSerial(text: string, index = 0): SerialSpec {
  try {
    return parseLegacyChardev(text, `serial${index}`);
  } catch (e) {
    if (e instanceof CharDevSpecError) throw new OptionError(e.message);
    throw e;
  }
}

export const FSDEV_SECURITY_MODELS = ['passthrough', 'mapped-xattr', 'mapped-file', 'none'] as const;

/** -fsdev local,id=ID,path=DIR,security_model=M[,readonly=on]: checked here, opened when the device is plugged. */
export function parseFsdev(val: string, opt: string): Record<string, string> {
  const kv = parseKeyValues(val, 'driver');
  if (kv.driver !== 'local') throw new OptionError(`${opt} ${val}: only the 'local' fsdev driver is supported`);
  if (!kv.id) throw new OptionError(`${opt} ${val}: id= is required`);
  if (!kv.path) throw new OptionError(`${opt} ${val}: path= is required`);
  const sm = kv.security_model;
  if (!sm) throw new OptionError(`${opt} ${val}: security_model= is required (${FSDEV_SECURITY_MODELS.join(', ')})`);
  if (!(FSDEV_SECURITY_MODELS as readonly string[]).includes(sm)) throw new OptionError(`${opt} ${val}: unknown security_model '${sm}' (${FSDEV_SECURITY_MODELS.join(', ')})`);
  for (const k of Object.keys(kv)) {
    if (!['driver', 'id', 'path', 'security_model', 'readonly'].includes(k)) throw new OptionError(`${opt} ${val}: unsupported property '${k}'`);
  }
  if (kv.readonly !== undefined && !['on', 'off', 'true', 'false', 'yes', 'no'].includes(kv.readonly)) throw new OptionError(`${opt} ${val}: readonly must be on or off`);
  return kv;
}

/** Options taking an argument, and flags. */
const WITH_ARG = new Set([
  'machine', 'M', 'm', 'smp', 'bios', 'kernel', 'dtb', 'append', 'initrd', 'serial', 'drive', 'device', 'accel', 'icount', 'd', 'display',
  'action', 'panic-delay', 'hda', 'hdb', 'hdc', 'hdd', 'blockdev', 'netdev', 'nic', 'fsdev', 'virtfs', 'gdb', ...CONTROL_WITH_ARG,
]);
const FLAGS = new Set(['nographic', 'no-reboot', 'debug-locks', 'snapshot', 's', ...CONTROL_FLAGS]);

/**
 * Parse argv. `extraFlags` lets a command accept its own flags (mtree's -f);
 * they are returned in `rest`.
 */
export function parseRunArgs(argv: string[], extraFlags: readonly string[] = []): RunConfig {
  const cfg: RunConfig = {
    machine: 'virt',
    ramSize: DEFAULT_RAM,
    smp: 1,
    nographic: false,
    serial: [],
    drives: [],
    blockdevs: [],
    snapshot: false,
    devices: [],
    netdevs: [],
    nics: [],
    fsdevs: [],
    log: new Set(),
    noReboot: false,
    panicAction: 'exit-failure',
    panicDelay: 2,
    debugLocks: false,
    control: defaultControlConfig(),
    rest: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (!raw.startsWith('-') || raw === '-' || raw === '--') throw new OptionError(`unexpected argument '${raw}'`);
    const name = raw.replace(/^--?/, '');
    if (extraFlags.includes(name)) {
      cfg.rest.push(raw);
      continue;
    }
    if (CONTROL_FLAGS.includes(name)) {
      applyControlOption(cfg.control, name, undefined);
      continue;
    }
    if (FLAGS.has(name)) {
      if (name === 'nographic') cfg.nographic = true;
      else if (name === 'no-reboot') cfg.noReboot = true;
      else if (name === 'snapshot') cfg.snapshot = true;
      else if (name === 's') cfg.gdb = 'tcp::1234';
      else cfg.debugLocks = true;
      continue;
    }
    if (!WITH_ARG.has(name)) throw new OptionError(`unknown option '${raw}'`);
    const val = argv[++i];
    if (val === undefined) throw new OptionError(`option '${raw}' requires an argument`);
    try {
      if (applyControlOption(cfg.control, name, val)) continue;
    } catch (e) {
      if (e instanceof ControlOptionError) throw new OptionError(e.message);
      throw e;
    }
    switch (name) {
      case 'machine':
      case 'M': {
        const kv = parseKeyValues(val, 'type');
        const type = kv.type;
        if (type !== 'virt') throw new OptionError(`-machine ${val}: unsupported machine type '${type ?? ''}' (only 'virt' is available)`);
        for (const k of Object.keys(kv)) {
          if (k === 'iommu-sys') {
            const on = parseOnOff(kv[k]!);
            if (on === null) throw new OptionError(`-machine ${val}: iommu-sys must be on or off`);
            cfg.iommuSys = on;
          } else if (k !== 'type') throw new OptionError(`-machine ${val}: unsupported property '${k}'`);
        }
        break;
      }
      case 'm': {
        const kv = parseKeyValues(val, 'size');
        const size = kv.size !== undefined ? parseSize(kv.size) : null;
        if (size === null || size <= 0) throw new OptionError(`-m ${val}: invalid RAM size`);
        if (size % 4096 !== 0) throw new OptionError(`-m ${val}: RAM size must be a multiple of 4 KiB`);
        if (size < 16 * MiB) throw new OptionError(`-m ${val}: RAM size must be at least 16 MiB`);
        if (size > MAX_RAM_MAP) throw new OptionError(`-m ${val}: RAM size exceeds the ${MAX_RAM_MAP / (1024 * MiB)} GiB the virt map allows`);
        if (size > MAX_RAM) throw new OptionError(`-m ${val}: at most ${MAX_RAM / MiB} MiB of RAM are supported (one RAM block)`);
        cfg.ramSize = size;
        break;
      }
      case 'smp': {
        const kv = parseKeyValues(val, 'cpus');
        const t = kv.cpus ?? kv.maxcpus;
        const n = t !== undefined && /^\d+$/.test(t) ? Number(t) : NaN;
        if (!(n >= 1)) throw new OptionError(`-smp ${val}: invalid CPU count`);
        if (n > MAX_SMP) throw new OptionError(`-smp ${val}: at most ${MAX_SMP} CPUs are supported`);
        for (const k of Object.keys(kv)) {
          if (!['cpus', 'maxcpus', 'sockets', 'cores', 'threads'].includes(k)) throw new OptionError(`-smp ${val}: unsupported property '${k}'`);
        }
        cfg.smp = n;
        break;
      }
      case 'bios':
        cfg.bios = val;
        break;
      case 'kernel':
        cfg.kernel = val;
        break;
      case 'dtb':
        cfg.dtb = val;
        break;
      case 'append':
        cfg.append = val;
        break;
      case 'initrd':
        cfg.initrd = val;
        break;
      case 'serial':
        cfg.serial.push(parseSerial(val, cfg.serial.length));
        break;
      case 'drive':
        cfg.drives.push(parseKeyValues(val, 'file'));
        break;
      case 'hda':
      case 'hdb':
      case 'hdc':
      case 'hdd':
        // QEMU's -hdX FILE is -drive file=FILE,index=N,media=disk (default interface).
        cfg.drives.push({ file: val, index: String(name.charCodeAt(2) - 97), media: 'disk' });
        break;
      case 'blockdev':
        cfg.blockdevs.push(val);
        break;
      case 'device': {
        const kv = parseKeyValues(val, 'driver');
        const driver = kv.driver;
        if (!driver) throw new OptionError(`-device ${val}: missing device name`);
        delete kv.driver;
        cfg.devices.push({ driver, props: kv });
        break;
      }
      case 'netdev':
        cfg.netdevs.push(val);
        break;
      case 'nic':
        cfg.nics.push(val);
        break;
      case 'fsdev':
        cfg.fsdevs.push(parseFsdev(val, '-fsdev'));
        break;
      case 'virtfs': {
        // QEMU's shorthand: an fsdev (id defaults to the mount tag) plus the virtio-9p device on PCI.
        const kv = parseKeyValues(val, 'driver');
        const tag = kv.mount_tag;
        if (!tag) throw new OptionError(`-virtfs ${val}: mount_tag= is required`);
        const { mount_tag: _t, ...fs } = kv;
        const id = fs.id ?? tag;
        cfg.fsdevs.push(parseFsdev(Object.entries({ ...fs, id }).map(([k, v]) => (k === 'driver' ? v : `${k}=${v.replace(/,/g, ',,')}`)).join(','), '-virtfs'));
        cfg.devices.push({ driver: 'virtio-9p-pci', props: { fsdev: id, mount_tag: tag } });
        break;
      }
      case 'accel': {
        const kv = parseKeyValues(val, 'accel');
        if (kv.accel !== 'tcg') throw new OptionError(`-accel ${val}: invalid accelerator '${kv.accel ?? ''}' (only tcg)`);
        for (const [k, v] of Object.entries(kv)) {
          if (k === 'accel') continue;
          if (k === 'thread' && (v === 'single' || v === 'multi')) cfg.accelThread = v;
          else if (k === 'jit' && (v === 'on' || v === 'off')) cfg.accelJit = v === 'on';
          else if (k === 'regions' && (v === 'on' || v === 'off')) cfg.accelRegions = v === 'on';
          else if (k === 'threaded' && (v === 'on' || v === 'off')) cfg.accelThreaded = v === 'on';
          else throw new OptionError(`-accel ${val}: unsupported property '${k}=${v}'`);
        }
        break;
      }
      case 'icount': {
        const kv = parseKeyValues(val, 'shift');
        const shift = kv.shift;
        if (shift === undefined || !/^\d+$/.test(shift) || Number(shift) > 10) {
          throw new OptionError(`-icount ${val}: shift must be an integer 0..10 (2^shift ns per instruction)`);
        }
        for (const k of Object.keys(kv)) {
          if (k !== 'shift' && k !== 'sleep') throw new OptionError(`-icount ${val}: unsupported property '${k}'`);
        }
        cfg.icountShift = Number(shift);
        break;
      }
      case 'd':
        for (const item of val.split(',')) {
          if (!(LOG_ITEMS as readonly string[]).includes(item)) throw new OptionError(`-d ${val}: unknown log item '${item}'`);
          cfg.log.add(item);
        }
        break;
      case 'action':
        for (const [k, v] of Object.entries(parseKeyValues(val, 'action'))) {
          if (k === 'panic' && (v === 'exit-failure' || v === 'shutdown' || v === 'none')) cfg.panicAction = v;
          else if (k === 'reboot' && (v === 'reset' || v === 'shutdown')) cfg.noReboot = v === 'shutdown';
          else throw new OptionError(`-action ${val}: unsupported action '${k}=${v}' (panic=exit-failure|shutdown|none, reboot=reset|shutdown)`);
        }
        break;
      case 'panic-delay': {
        const d = Number(val);
        if (!/^\d+(\.\d+)?$/.test(val) || !(d <= 3600)) throw new OptionError(`-panic-delay ${val}: seconds from 0 to 3600`);
        cfg.panicDelay = d;
        break;
      }
      case 'gdb':
        cfg.gdb = val;
        break;
      case 'display':
        if (val !== 'none') throw new OptionError(`-display ${val}: only 'none' is supported`);
        break;
    }
  }
  return cfg;
}
