/**
 * The human monitor (QEMU's HMP): a command line parsed into a typed command
 * (pure, `parseHmp`), executed against MonitorAccess (`HmpExecutor`), and a
 * line discipline for sessions on stdio, sockets and the Ctrl-A c mux
 * (`HmpServer`). Output lines end in CRLF as QEMU's do; the prompt is
 * QEMU's "(qemu) " so scripts that wait for it work unchanged.
 */
import type { CharSession, CharSessionCallbacks, CharSessionHandler } from '../hw/char/chardev-socket.js';
import type { MuxEvent } from '../hw/char/chardev-mux.js';
import { disassemble } from '../cpu/riscv/disasm.js';
import type { HartState } from '../machine/hart-state.js';
import { MonitorError, QEMU_COMPAT, TSVMM_VERSION, type MonitorAccess } from './access.js';

export const HMP_PROMPT = '(qemu) ';
export const HMP_BANNER = `tsvmm ${TSVMM_VERSION} monitor (QEMU ${QEMU_COMPAT.major}.${QEMU_COMPAT.minor} commands) - type 'help' for more information`;
/** Longest command line kept; longer input is cut (and said so). */
export const HMP_MAX_LINE = 4096;
/** Lines waiting while a command runs; beyond this input is dropped with a message. */
export const HMP_MAX_QUEUED = 64;

const INFO_TOPICS: Record<string, string> = {
  status: 'show the current VM status (running|paused)',
  registers: 'show the cpu registers',
  mtree: '[-f] show memory tree (-f: dump flat view for address spaces)',
  pci: 'show PCI info',
  qtree: 'show device tree',
  block: 'show the block devices',
  chardev: 'show the character devices',
  cpus: 'show infos for each CPU',
  version: 'show the version of QEMU',
  name: 'show the current VM name',
};

const COMMANDS: [string, string][] = [
  ['c|cont', 'resume emulation'],
  ['cpu index', 'set the default CPU'],
  ['device_add driver[,prop=value][,...]', 'add device, like -device on the command line'],
  ['device_del device', 'remove device'],
  ['help|? [cmd]', 'show the help'],
  ['info [subcommand]', 'show various information about the system state'],
  ['q|quit', 'quit the emulator'],
  ['stop', 'stop emulation'],
  ['system_powerdown', 'send system power down event'],
  ['system_reset', 'reset the system'],
  ['x /fmt addr', 'virtual memory dump starting at \'addr\''],
  ['xp /fmt addr', 'physical memory dump starting at \'addr\''],
];

export type MemFormat = { count: number; format: 'x' | 'd' | 'u' | 'o' | 'c' | 'i'; size: 1 | 2 | 4 | 8 };

export type HmpCommand =
  | { cmd: 'empty' }
  | { cmd: 'help'; topic?: string }
  | { cmd: 'info'; topic?: string; flat?: boolean }
  | { cmd: 'stop' | 'cont' | 'system_reset' | 'system_powerdown' | 'quit' }
  | { cmd: 'cpu'; index: number }
  | { cmd: 'device_add'; spec: string }
  | { cmd: 'device_del'; id: string }
  | { cmd: 'x' | 'xp'; fmt: MemFormat; addr: string };

export class HmpParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HmpParseError';
  }
}

/** QEMU's /FMT: [count][format][size] in any order after the count. */
export function parseMemFormat(text: string): MemFormat {
  const m = /^\/(\d*)([a-z]*)$/.exec(text);
  if (!m) throw new HmpParseError(`invalid format '${text}'`);
  const count = m[1] ? Number(m[1]) : 1;
  if (!(count >= 1 && count <= 65536)) throw new HmpParseError('invalid count');
  let format: MemFormat['format'] = 'x';
  let size: MemFormat['size'] | null = null;
  for (const ch of m[2]!) {
    if ('xduoci'.includes(ch)) format = ch as MemFormat['format'];
    else if (ch === 'b') size = 1;
    else if (ch === 'h') size = 2;
    else if (ch === 'w') size = 4;
    else if (ch === 'g') size = 8;
    else throw new HmpParseError(`invalid char in format: '${ch}'`);
  }
  if (size === null) size = format === 'c' ? 1 : 4;
  return { count, format, size };
}

export function parseHmp(line: string): HmpCommand {
  const t = line.trim();
  if (t === '') return { cmd: 'empty' };
  // "x/4i addr": the format may follow the command name without a space.
  const sp = t.search(/[\s/]/);
  const word = sp < 0 ? t : t.slice(0, sp);
  const rest = sp < 0 ? '' : t.slice(sp).trim();
  const noArgs = (c: HmpCommand): HmpCommand => {
    if (rest !== '') throw new HmpParseError(`${word}: extraneous characters at the end of line`);
    return c;
  };
  switch (word) {
    case 'help':
    case '?':
      return rest ? { cmd: 'help', topic: rest } : { cmd: 'help' };
    case 'info': {
      if (!rest) return { cmd: 'info' };
      const [topic, ...args] = rest.split(/\s+/);
      if (topic === 'mtree') {
        for (const a of args) if (a !== '-f') throw new HmpParseError(`info mtree: unknown option '${a}'`);
        return { cmd: 'info', topic, flat: args.includes('-f') };
      }
      if (args.length) throw new HmpParseError(`info ${topic}: extraneous characters at the end of line`);
      return { cmd: 'info', topic };
    }
    case 'stop':
      return noArgs({ cmd: 'stop' });
    case 'c':
    case 'cont':
      return noArgs({ cmd: 'cont' });
    case 'system_reset':
      return noArgs({ cmd: 'system_reset' });
    case 'system_powerdown':
      return noArgs({ cmd: 'system_powerdown' });
    case 'q':
    case 'quit':
      return noArgs({ cmd: 'quit' });
    case 'cpu': {
      if (!/^\d+$/.test(rest)) throw new HmpParseError('cpu: expects a CPU index');
      return { cmd: 'cpu', index: Number(rest) };
    }
    case 'device_add':
      if (!rest) throw new HmpParseError("device_add: Parameter 'driver' is missing");
      return { cmd: 'device_add', spec: rest };
    case 'device_del':
      if (!rest || /\s/.test(rest)) throw new HmpParseError('device_del: expects one device id');
      return { cmd: 'device_del', id: rest };
    case 'x':
    case 'xp': {
      let fmt: MemFormat = { count: 1, format: 'x', size: 4 };
      let addr = rest;
      if (rest.startsWith('/')) {
        const s2 = rest.search(/\s/);
        fmt = parseMemFormat(s2 < 0 ? rest : rest.slice(0, s2));
        addr = s2 < 0 ? '' : rest.slice(s2).trim();
      }
      if (addr === '') throw new HmpParseError(`unexpected end of expression\nTry "help ${word}" for more information`);
      return { cmd: word, fmt, addr };
    }
  }
  throw new HmpParseError(`unknown command: '${word}'`);
}

const ABI = ['zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
const FABI = ['ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3', 'fa4', 'fa5', 'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8', 'ft9', 'ft10', 'ft11'];

const h16 = (v: bigint): string => BigInt.asUintN(64, v).toString(16).padStart(16, '0');

/** QEMU's `info registers` layout for one hart (without the hypervisor extension's lines). */
export function formatRegisters(s: HartState): string {
  const L = ['', `CPU#${s.hartId}`, ` V      =   0`, ` pc       ${h16(s.pc)}`];
  for (const name of ['mhartid', 'mstatus', 'mip', 'mie', 'mideleg', 'medeleg', 'mtvec', 'stvec', 'mepc', 'sepc', 'mcause', 'scause', 'mtval', 'stval', 'mscratch', 'sscratch', 'satp']) {
    L.push(` ${name.padEnd(8)} ${h16(s.csr[name] ?? 0n)}`);
  }
  for (let i = 0; i < 32; i += 4) {
    L.push(' ' + [0, 1, 2, 3].map((j) => `x${i + j}/${ABI[i + j]}`.padEnd(8) + ` ${h16(s.x[i + j]!)}`).join(' '));
  }
  for (let i = 0; i < 32; i += 4) {
    L.push(' ' + [0, 1, 2, 3].map((j) => `f${i + j}/${FABI[i + j]}`.padEnd(8) + ` ${h16(s.f[i + j]!)}`).join(' '));
  }
  return L.join('\n');
}

/** An address expression: terms (numbers, $pc, $REG) joined by + and -. */
export function evalAddr(expr: string, state: HartState | null): bigint {
  const tokens = expr.replace(/\s+/g, '').match(/[+-]|[^+-]+/g);
  if (!tokens) throw new HmpParseError('unexpected end of expression');
  let sum = 0n;
  let sign = 1n;
  let expectTerm = true;
  for (const tok of tokens) {
    if (tok === '+' || tok === '-') {
      if (expectTerm && tok === '-') sign = -sign;
      else if (!expectTerm) {
        sign = tok === '-' ? -1n : 1n;
        expectTerm = true;
      }
      continue;
    }
    let v: bigint;
    if (/^(0x[0-9a-f]+|\d+)$/i.test(tok)) v = BigInt(tok);
    else if (tok.startsWith('$')) {
      if (!state) throw new HmpParseError(`${tok}: no CPU state`);
      const r = tok.slice(1);
      if (r === 'pc') v = state.pc;
      else {
        const xi = /^x(\d+)$/.exec(r);
        const idx = xi ? Number(xi[1]) : ABI.indexOf(r === 'fp' ? 's0' : r);
        if (idx >= 0 && idx < 32) v = state.x[idx]!;
        else if (state.csr[r] !== undefined) v = state.csr[r]!;
        else throw new HmpParseError(`unknown register '${r}'`);
      }
    } else throw new HmpParseError(`invalid char '${tok[0]}' in expression`);
    sum += sign * v;
    sign = 1n;
    expectTerm = false;
  }
  if (expectTerm) throw new HmpParseError('unexpected end of expression');
  return BigInt.asUintN(64, sum);
}

/** QEMU's memory_dump layout: 16 bytes a line (8 for bytes), `ADDR: v v v`. */
export function formatDump(addr: bigint, fmt: MemFormat, bytes: Uint8Array | null, readable: number, isPhys: boolean): string {
  const L: string[] = [];
  const addrText = (a: bigint): string => (isPhys ? h16(a) : h16(a));
  if (fmt.format === 'i') {
    let off = 0;
    for (let n = 0; n < fmt.count; n++) {
      if (!bytes || off + 2 > readable) {
        L.push(`0x${addrText(addr + BigInt(off))}: Cannot access memory`);
        break;
      }
      const lo = bytes[off]! | (bytes[off + 1]! << 8);
      const len = (lo & 3) === 3 ? 4 : 2;
      if (off + len > readable) {
        L.push(`0x${addrText(addr + BigInt(off))}: Cannot access memory`);
        break;
      }
      const insn = len === 4 ? (lo | (bytes[off + 2]! << 16) | (bytes[off + 3]! << 24)) >>> 0 : lo;
      const hex = len === 4 ? insn.toString(16).padStart(8, '0') : insn.toString(16).padStart(4, '0');
      L.push(`0x${addrText(addr + BigInt(off))}:  ${hex.padEnd(18)}${disassemble(insn).replace('\t', ' '.repeat(1)).padEnd(0)}`);
      off += len;
    }
    return L.join('\n');
  }
  const lineSize = fmt.size === 1 ? 8 : 16;
  const total = fmt.count * fmt.size;
  const dv = bytes ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
  for (let off = 0; off < total; off += lineSize) {
    const a = addr + BigInt(off);
    const n = Math.min(lineSize, total - off);
    if (!dv || off + n > readable) {
      L.push(`${addrText(a)}: Cannot access memory`);
      break;
    }
    const vals: string[] = [];
    for (let i = 0; i < n; i += fmt.size) {
      const p = off + i;
      const v = fmt.size === 1 ? BigInt(dv.getUint8(p)) : fmt.size === 2 ? BigInt(dv.getUint16(p, true)) : fmt.size === 4 ? BigInt(dv.getUint32(p, true)) : dv.getBigUint64(p, true);
      const bits = BigInt(fmt.size * 8);
      switch (fmt.format) {
        case 'x':
          vals.push(`0x${v.toString(16).padStart(fmt.size * 2, '0')}`);
          break;
        case 'o':
          vals.push(`0${v.toString(8)}`);
          break;
        case 'u':
          vals.push(v.toString().padStart(Math.floor((fmt.size * 8 * 10) / 33), ' '));
          break;
        case 'd': {
          // As QEMU: values narrower than 64 bits are loaded zero-extended, so only /d with g is signed.
          const sv = fmt.size === 8 ? BigInt.asIntN(Number(bits), v) : v;
          vals.push(sv.toString().padStart(Math.floor((fmt.size * 8 * 10 + 32) / 33), ' '));
          break;
        }
        case 'c': {
          const c = Number(v & 0xffn);
          vals.push(c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `'\\x${c.toString(16).padStart(2, '0')}'`);
          break;
        }
      }
    }
    L.push(`${addrText(a)}: ${vals.join(' ')}`);
  }
  return L.join('\n');
}

/** Runs HMP commands; one per session (it remembers the current CPU). */
export class HmpExecutor {
  private cpu = 0;

  constructor(private readonly access: MonitorAccess) {}

  /** Execute one line; returns the text to print (LF line ends, no trailing newline). Never throws for bad input. */
  async execute(line: string): Promise<string> {
    let c: HmpCommand;
    try {
      c = parseHmp(line);
    } catch (e) {
      if (e instanceof HmpParseError) return e.message;
      throw e;
    }
    try {
      return await this.run(c);
    } catch (e) {
      if (e instanceof MonitorError || e instanceof HmpParseError) return `Error: ${e.message}`;
      throw e;
    }
  }

  private async run(c: HmpCommand): Promise<string> {
    const a = this.access;
    switch (c.cmd) {
      case 'empty':
        return '';
      case 'help':
        if (c.topic) {
          const hit = COMMANDS.filter(([n]) => n.split(/[ |]/).includes(c.topic!));
          if (!hit.length) return `unknown command: '${c.topic}'`;
          return hit.map(([n, d]) => `${n} -- ${d}`).join('\n');
        }
        return COMMANDS.map(([n, d]) => `${n} -- ${d}`).join('\n');
      case 'info':
        return this.info(c.topic, c.flat ?? false);
      case 'stop':
        await a.stop();
        return '';
      case 'cont':
        await a.cont();
        return '';
      case 'system_reset':
        a.systemReset();
        return '';
      case 'system_powerdown':
        a.powerdown();
        return '';
      case 'quit':
        a.quit('host-qmp-quit');
        return '';
      case 'cpu':
        if (c.index >= a.machine.smp) return 'invalid CPU index';
        this.cpu = c.index;
        return '';
      case 'device_add': {
        const parts = c.spec.replace(/,,/g, '\u0000').split(',').map((p) => p.replace(/\u0000/g, ','));
        const args: Record<string, unknown> = { driver: parts[0] };
        for (const p of parts.slice(1)) {
          const eq = p.indexOf('=');
          if (eq < 0) args[p] = 'on';
          else args[p.slice(0, eq)] = p.slice(eq + 1);
        }
        a.deviceAdd(args);
        return '';
      }
      case 'device_del':
        a.deviceDel(c.id);
        return '';
      case 'x':
      case 'xp': {
        const states = c.cmd === 'x' || /\$/.test(c.addr) ? await a.hartStates() : [];
        const st = states[this.cpu] ?? null;
        const addr = evalAddr(c.addr, st);
        const len = c.fmt.format === 'i' ? c.fmt.count * 4 : c.fmt.count * c.fmt.size;
        if (len > 1 << 20) return 'Error: dump too large';
        // Read line by line so a dump running into a hole prints what it could.
        const buf = new Uint8Array(len);
        let readable = 0;
        while (readable < len) {
          const n = Math.min(16 - Number((addr + BigInt(readable)) & 15n), len - readable);
          const at = addr + BigInt(readable);
          const b = c.cmd === 'xp' ? a.readPhys(at, n) : await a.readVirt(this.cpu, at, n);
          if (!b) break;
          buf.set(b, readable);
          readable += n;
        }
        return formatDump(addr, c.fmt, buf, readable, c.cmd === 'xp');
      }
    }
  }

  private async info(topic: string | undefined, flat: boolean): Promise<string> {
    const a = this.access;
    switch (topic) {
      case undefined:
        return Object.entries(INFO_TOPICS)
          .map(([k, d]) => `info ${k} -- ${d}`)
          .join('\n');
      case 'status':
        return a.statusText();
      case 'registers':
        return (await a.hartStates()).map(formatRegisters).join('\n');
      case 'mtree':
        return a.mtreeText(flat).replace(/\n+$/, '');
      case 'pci':
        return a.pciText();
      case 'qtree':
        return a.qtreeText();
      case 'block':
        return a.blockText();
      case 'chardev':
        return a.chardevText();
      case 'cpus':
        return a.cpusText(this.cpu);
      case 'version':
        return `${QEMU_COMPAT.major}.${QEMU_COMPAT.minor}.${QEMU_COMPAT.micro} (tsvmm ${TSVMM_VERSION})`;
      case 'name':
        return a.name ?? '';
    }
    return `unknown info command: '${topic}' (info lists them)`;
  }
}

/** HMP sessions on chardevs: echo, backspace, one command at a time. */
export class HmpServer implements CharSessionHandler {
  constructor(private readonly access: MonitorAccess) {}

  open(session: CharSession): CharSessionCallbacks {
    const exec = new HmpExecutor(this.access);
    const enc = new TextEncoder();
    const say = (text: string): void => session.write(enc.encode(text.replace(/\r?\n/g, '\r\n')));
    let line = '';
    let escape = 0;
    let busy = false;
    let closed = false;
    let cut = false;
    const queue: string[] = [];
    let bannerShown = false;
    const greet = (): void => {
      if (!bannerShown) say(`${HMP_BANNER}\n`);
      bannerShown = true;
      say(HMP_PROMPT);
    };
    if (!session.muxed) greet();
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      while (queue.length && !closed) {
        const l = queue.shift()!;
        let out: string;
        try {
          out = await exec.execute(l);
        } catch (e) {
          out = `Error: internal: ${(e as Error).message}`;
        }
        if (closed) break;
        say(out ? `${out}\n${HMP_PROMPT}` : HMP_PROMPT);
      }
      busy = false;
    };
    let lastCr = false;
    return {
      data: (bytes) => {
        let echo = '';
        for (const b of bytes) {
          if (escape === 1) {
            escape = b === 0x5b || b === 0x4f ? 2 : 0;
            continue;
          }
          if (escape === 2) {
            if (b >= 0x40 && b <= 0x7e) escape = 0;
            continue;
          }
          if (b === 0x1b) {
            escape = 1;
            continue;
          }
          if (b === 0x0d || b === 0x0a) {
            // CR LF counts once.
            if (b === 0x0a && lastCr) {
              lastCr = false;
              continue;
            }
            lastCr = b === 0x0d;
            echo += '\r\n';
            if (cut) say('\r\nline too long; cut\r\n');
            if (queue.length < HMP_MAX_QUEUED) queue.push(line);
            line = '';
            cut = false;
            continue;
          }
          lastCr = false;
          if (b === 0x7f || b === 0x08) {
            if (line.length) {
              line = line.slice(0, -1);
              echo += '\b \b';
            }
            continue;
          }
          if (b < 0x20) continue;
          if (line.length >= HMP_MAX_LINE) {
            cut = true;
            continue;
          }
          line += String.fromCharCode(b);
          echo += String.fromCharCode(b);
        }
        if (echo) session.write(enc.encode(echo));
        void pump();
      },
      closed: () => {
        closed = true;
        queue.length = 0;
      },
      muxEvent: (e: MuxEvent) => {
        if (e === 'focus-in') {
          say('\n');
          greet();
        }
      },
    };
  }
}
