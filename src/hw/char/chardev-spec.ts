/**
 * Pure parsers for character-device specs: `-chardev BACKEND,id=ID,...` and
 * QEMU's legacy one-string forms used by `-serial`, `-monitor`, `-qmp`
 * (`stdio`, `mon:stdio`, `null`, `file:PATH`, `pipe:PATH`,
 * `tcp:HOST:PORT[,server][,nowait]`, `unix:PATH[,server][,nowait]`,
 * `chardev:ID`). They touch no host resource; failures are CharDevSpecErrors
 * with a reason.
 *
 * Deliberate difference from QEMU: a TCP listener with no host (`tcp::4444`)
 * listens on 127.0.0.1, not on every interface; other addresses are used only
 * when given explicitly.
 */
import { CharDevSpecError } from './chardev.js';

export type SocketAddress = { type: 'inet'; host: string; port: number } | { type: 'unix'; path: string };

interface SpecBase {
  id: string;
  /** mux=on: several frontends share the backend; Ctrl-A c moves the input focus (stdio only). */
  mux: boolean;
}

export type ChardevSpec =
  | (SpecBase & { backend: 'null' })
  | (SpecBase & { backend: 'stdio'; signal: boolean })
  | (SpecBase & { backend: 'file'; path: string; append: boolean })
  | (SpecBase & { backend: 'pipe'; path: string })
  | (SpecBase & { backend: 'ringbuf'; size: number })
  | (SpecBase & { backend: 'socket'; addr: SocketAddress; server: boolean; wait: boolean; nodelay: boolean });

export type ChardevBackendKind = ChardevSpec['backend'];

/** A legacy spec: a new backend, or a reference to a -chardev by id; `monitor` for the `mon:` prefix. */
export type LegacyCharSpec =
  | { kind: 'new'; spec: ChardevSpec; monitor: boolean }
  | { kind: 'ref'; id: string }
  | { kind: 'none' };

export const CHARDEV_BACKENDS: readonly ChardevBackendKind[] = ['null', 'stdio', 'file', 'pipe', 'ringbuf', 'socket'];
/** Backends QEMU has that tsvmm does not (named so the error says "not supported", not "unknown"). */
const QEMU_ONLY = new Set(['pty', 'vc', 'udp', 'serial', 'tty', 'parallel', 'parport', 'msmouse', 'wctablet', 'braille', 'testdev', 'spicevmc', 'spiceport', 'memory', 'console', 'qemu-vdagent', 'dbus']);

const ID_RE = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;
export const MAX_RINGBUF = 1 << 24;

export function checkChardevId(id: string | undefined, what: string): string {
  if (id === undefined || id === '') throw new CharDevSpecError(`${what}: missing id=`, 'missing-id');
  if (!ID_RE.test(id)) {
    throw new CharDevSpecError(`${what}: Parameter 'id' expects an identifier (a letter, then letters, digits, '-', '.', '_')`, 'bad-id');
  }
  return id;
}

/** QEMU's "a,key=value,flag": ",," escapes a comma; a bare word is key=on, noKEY is key=off. */
function splitOpts(text: string): { first: string; opts: [string, string][] } {
  const parts = text.replace(/,,/g, '\u0000').split(',').map((p) => p.replace(/\u0000/g, ','));
  const first = parts.shift() ?? '';
  const opts: [string, string][] = [];
  for (const p of parts) {
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq >= 0) opts.push([p.slice(0, eq), p.slice(eq + 1)]);
    else if (p === 'nowait') opts.push(['wait', 'off']);
    else if (p === 'nodelay') opts.push(['nodelay', 'on']);
    else if (/^no(server|wait|delay|signal|mux|append)$/.test(p)) opts.push([p.slice(2), 'off']);
    else opts.push([p, 'on']);
  }
  return { first, opts };
}

function bool(what: string, key: string, v: string): boolean {
  if (v === 'on' || v === 'yes' || v === 'true' || v === 'y') return true;
  if (v === 'off' || v === 'no' || v === 'false' || v === 'n') return false;
  throw new CharDevSpecError(`${what}: Parameter '${key}' expects 'on' or 'off'`, 'bad-value');
}

function port(what: string, text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535) throw new CharDevSpecError(`${what}: bad port '${text}'`, 'bad-port');
  return n;
}

/** Host for a TCP socket: empty means loopback (see the module comment); IPv6 may be bracketed. */
function host(text: string): string {
  if (text === '') return '127.0.0.1';
  if (text.startsWith('[') && text.endsWith(']')) return text.slice(1, -1);
  return text;
}

type Opts = Map<string, string>;

function takeOpts(what: string, opts: [string, string][], allowed: readonly string[]): Opts {
  const m = new Map<string, string>();
  for (const [k, v] of opts) {
    if (!allowed.includes(k)) {
      if (k === 'telnet' || k === 'tn3270' || k === 'websocket' || k === 'reconnect' || k === 'tls-creds' || k === 'to' || k === 'fd' || k === 'abstract') {
        throw new CharDevSpecError(`${what}: option '${k}' is not supported by tsvmm`, 'unknown-option');
      }
      throw new CharDevSpecError(`${what}: Invalid parameter '${k}'`, 'unknown-option');
    }
    m.set(k, v);
  }
  return m;
}

function socketSpec(what: string, id: string, mux: boolean, addr: SocketAddress, o: Opts): ChardevSpec {
  const server = o.has('server') ? bool(what, 'server', o.get('server')!) : false;
  if (!server && o.has('wait')) {
    throw new CharDevSpecError(`${what}: 'wait' option is incompatible with socket in client connect mode`, 'conflict');
  }
  const wait = server ? (o.has('wait') ? bool(what, 'wait', o.get('wait')!) : true) : false;
  const nodelay = o.has('nodelay') ? bool(what, 'nodelay', o.get('nodelay')!) : false;
  if (addr.type === 'unix' && addr.path === '') throw new CharDevSpecError(`${what}: missing socket path`, 'missing-path');
  return { backend: 'socket', id, mux, addr, server, wait, nodelay };
}

/** `-chardev BACKEND,id=ID[,...]` */
export function parseChardev(text: string): ChardevSpec {
  const what = `-chardev ${text}`;
  const { first, opts } = splitOpts(text);
  const backend = first;
  if (backend === '') throw new CharDevSpecError(`${what}: missing backend`, 'unknown-backend');
  if (QEMU_ONLY.has(backend)) throw new CharDevSpecError(`${what}: backend '${backend}' is not supported by tsvmm (${CHARDEV_BACKENDS.join(', ')})`, 'unsupported-backend');
  if (!(CHARDEV_BACKENDS as readonly string[]).includes(backend)) {
    throw new CharDevSpecError(`${what}: 'backend' does not accept value '${backend}'`, 'unknown-backend');
  }
  const common = ['id', 'mux', 'logfile', 'logappend'];
  const kind = backend as ChardevBackendKind;
  const allowed: Record<ChardevBackendKind, readonly string[]> = {
    null: common,
    stdio: [...common, 'signal'],
    file: [...common, 'path', 'append'],
    pipe: [...common, 'path'],
    ringbuf: [...common, 'size'],
    socket: [...common, 'host', 'port', 'path', 'server', 'wait', 'nodelay', 'ipv4', 'ipv6'],
  };
  const o = takeOpts(what, opts, allowed[kind]);
  if (o.has('logfile') || o.has('logappend')) throw new CharDevSpecError(`${what}: option 'logfile' is not supported by tsvmm`, 'unknown-option');
  const id = checkChardevId(o.get('id'), what);
  const mux = o.has('mux') ? bool(what, 'mux', o.get('mux')!) : false;
  switch (kind) {
    case 'null':
      return { backend: 'null', id, mux };
    case 'stdio':
      return { backend: 'stdio', id, mux, signal: o.has('signal') ? bool(what, 'signal', o.get('signal')!) : true };
    case 'file':
    case 'pipe': {
      const path = o.get('path');
      if (!path) throw new CharDevSpecError(`${what}: Parameter 'path' is missing`, 'missing-path');
      if (kind === 'pipe') return { backend: 'pipe', id, mux, path };
      return { backend: 'file', id, mux, path, append: o.has('append') ? bool(what, 'append', o.get('append')!) : false };
    }
    case 'ringbuf': {
      const t = o.get('size') ?? '65536';
      const m = /^(\d+)([kKmM]?)$/.exec(t);
      const size = m ? Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1 << 20) : NaN;
      if (!(size > 0 && size <= MAX_RINGBUF && (size & (size - 1)) === 0)) {
        throw new CharDevSpecError(`${what}: ringbuf size must be a power of two up to ${MAX_RINGBUF}`, 'bad-value');
      }
      return { backend: 'ringbuf', id, mux, size };
    }
    case 'socket': {
      const path = o.get('path');
      const p = o.get('port');
      if (path !== undefined && p !== undefined) throw new CharDevSpecError(`${what}: 'path' and 'port' are mutually exclusive`, 'conflict');
      if (path !== undefined) return socketSpec(what, id, mux, { type: 'unix', path }, o);
      if (p === undefined) throw new CharDevSpecError(`${what}: chardev: socket: no host given`, 'missing-path');
      for (const k of ['ipv4', 'ipv6']) if (o.has(k)) bool(what, k, o.get(k)!);
      return socketSpec(what, id, mux, { type: 'inet', host: host(o.get('host') ?? ''), port: port(what, p) }, o);
    }
  }
}

/**
 * A legacy spec (`-serial`, `-monitor`, `-qmp`, `-gdb`): `id` names the
 * backend it creates (QEMU's compat_monitor0, serial0, ...).
 */
export function parseLegacyChardev(text: string, id: string, option = '-serial'): LegacyCharSpec {
  const what = `${option} ${text}`;
  if (text === 'none') return { kind: 'none' };
  let rest = text;
  let monitor = false;
  if (rest.startsWith('mon:')) {
    monitor = true;
    rest = rest.slice(4);
  }
  const mux = monitor;
  if (rest.startsWith('chardev:')) {
    if (monitor) throw new CharDevSpecError(`${what}: 'mon:' cannot prefix 'chardev:'`, 'conflict');
    return { kind: 'ref', id: checkChardevId(rest.slice(8), what) };
  }
  const colon = rest.indexOf(':');
  const scheme = colon >= 0 ? rest.slice(0, colon) : rest;
  const arg = colon >= 0 ? rest.slice(colon + 1) : '';
  const nw = (spec: ChardevSpec): LegacyCharSpec => ({ kind: 'new', spec, monitor });
  switch (scheme) {
    case 'null':
    case 'stdio':
      if (colon >= 0) break;
      return nw(scheme === 'null' ? { backend: 'null', id, mux } : { backend: 'stdio', id, mux, signal: true });
    case 'file':
    case 'pipe':
      if (arg === '') throw new CharDevSpecError(`${what}: missing file name`, 'missing-path');
      return nw(scheme === 'file' ? { backend: 'file', id, mux, path: arg, append: false } : { backend: 'pipe', id, mux, path: arg });
    case 'tcp': {
      const { first, opts } = splitOpts(arg);
      const c = first.lastIndexOf(':');
      if (c < 0) throw new CharDevSpecError(`${what}: expected tcp:HOST:PORT`, 'bad-port');
      const o = takeOpts(what, opts, ['server', 'wait', 'nodelay', 'ipv4', 'ipv6']);
      return nw(socketSpec(what, id, mux, { type: 'inet', host: host(first.slice(0, c)), port: port(what, first.slice(c + 1)) }, o));
    }
    case 'unix': {
      const { first, opts } = splitOpts(arg);
      const o = takeOpts(what, opts, ['server', 'wait', 'nodelay']);
      return nw(socketSpec(what, id, mux, { type: 'unix', path: first }, o));
    }
    case 'ringbuf':
      break;
    default:
      if (QEMU_ONLY.has(scheme) || scheme === 'telnet' || scheme === 'websocket' || scheme === 'vc' || scheme === 'pty') {
        throw new CharDevSpecError(`${what}: '${scheme}' is not supported by tsvmm (stdio, null, file:, pipe:, tcp:, unix:, chardev:)`, 'unsupported-backend');
      }
  }
  throw new CharDevSpecError(`${what}: unknown chardev spec (stdio, mon:stdio, null, none, file:PATH, pipe:PATH, tcp:HOST:PORT[,server][,nowait], unix:PATH[,server][,nowait], chardev:ID)`, 'unknown-backend');
}

/** QEMU's `filename` for query-chardev / info chardev. */
export function chardevFilename(spec: ChardevSpec): string {
  switch (spec.backend) {
    case 'null':
    case 'stdio':
    case 'ringbuf':
      return spec.backend;
    case 'file':
      return `file:${spec.path}`;
    case 'pipe':
      return `pipe:${spec.path}`;
    case 'socket': {
      const a = spec.addr.type === 'inet' ? `tcp:${spec.addr.host}:${spec.addr.port}` : `unix:${spec.addr.path}`;
      return spec.server ? `${a},server=on` : a;
    }
  }
}
