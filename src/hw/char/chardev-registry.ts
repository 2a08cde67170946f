/**
 * Chardevs by id (QEMU's chardev list): `-chardev` and legacy specs create
 * backends here; frontends (the UART, virtio-serial ports, monitors) claim
 * them by id. A backend serves one frontend unless it was created with
 * mux=on; a monitor may instead take every connection of a listening socket
 * as its own session (`claimSessions`).
 */
import {
  CharDevSpecError,
  FileBackend,
  NullBackend,
  StdioBackend,
  type CharBackend,
  type CharFrontend,
  type StdinLike,
  type StdoutLike,
} from './chardev.js';
import { SocketChardev, type CharSession, type CharSessionCallbacks, type CharSessionHandler } from './chardev-socket.js';
import { HostPipeChardev, RingBufChardev } from './chardev-extra.js';
import { MuxChardev, type MuxEvent, type MuxAwareFrontend } from './chardev-mux.js';
import { chardevFilename, parseLegacyChardev, type ChardevSpec } from './chardev-spec.js';

export interface CharSpecDeps {
  /** Ctrl-A x on a stdio backend. */
  onQuit?: () => void;
  stdin?: StdinLike;
  stdout?: StdoutLike;
}

/**
 * When a stdio backend interprets Ctrl-A escapes: 'always' for an explicit
 * mux (QEMU's mon:stdio does, also on pipes), 'tty' for tsvmm's default
 * console (scripts piping bytes through stdin see them unchanged).
 */
export type EscapeMode = 'always' | 'tty';

export interface ChardevEntry {
  readonly id: string;
  readonly spec: ChardevSpec;
  readonly backend: CharBackend;
  readonly mux: MuxChardev | null;
  /** Frontends that claimed it (for errors and `info chardev`). */
  readonly users: string[];
}

/** Build one backend (no registry): the legacy `createCharBackend` and the registry share this. */
export function openChardev(spec: ChardevSpec, deps: CharSpecDeps = {}, onSwitchFocus?: () => void, escapes: EscapeMode = 'always'): CharBackend {
  switch (spec.backend) {
    case 'null':
      return new NullBackend();
    case 'stdio':
      return new StdioBackend({
        stdin: deps.stdin,
        stdout: deps.stdout,
        onQuit: deps.onQuit,
        mux: spec.mux && escapes === 'always' ? true : undefined,
        onSwitchFocus,
      });
    case 'file':
      return new FileBackend(spec.path);
    case 'pipe':
      return new HostPipeChardev(spec.path);
    case 'ringbuf':
      return new RingBufChardev(spec.size);
    case 'socket':
      return new SocketChardev({ addr: spec.addr, server: spec.server, wait: spec.wait, nodelay: spec.nodelay });
  }
}

/**
 * Build a backend from QEMU's legacy one-string syntax (`stdio`, `null`,
 * `file:PATH`, `tcp:HOST:PORT,server[,nowait]`, `unix:PATH,server`, ...).
 */
export function createCharBackend(text: string, deps: CharSpecDeps = {}): CharBackend {
  const l = parseLegacyChardev(text, 'serial0');
  if (l.kind === 'none') return new NullBackend();
  if (l.kind === 'ref') throw new CharDevSpecError(`chardev:${l.id} needs a chardev registry`, 'invalid');
  return openChardev(l.spec, deps);
}

export class ChardevRegistry {
  private readonly entries = new Map<string, ChardevEntry>();
  private stdioUsed = false;

  constructor(private readonly deps: CharSpecDeps = {}) {}

  /** Create the backend for `spec` (throws CharDevSpecError on a duplicate id or a host failure). */
  add(spec: ChardevSpec, escapes: EscapeMode = 'always'): ChardevEntry {
    if (this.entries.has(spec.id)) throw new CharDevSpecError(`attempt to add duplicate property '${spec.id}' to object (type 'container')`, 'duplicate-id');
    if (spec.backend === 'stdio') {
      if (this.stdioUsed) throw new CharDevSpecError('cannot use stdio by multiple character devices', 'conflict');
      this.stdioUsed = true;
    }
    let mux: MuxChardev | null = null;
    const backend = openChardev(spec, this.deps, spec.mux ? () => mux?.switchFocus() : undefined, escapes);
    if (spec.mux) mux = new MuxChardev(backend);
    const e: ChardevEntry = { id: spec.id, spec, backend, mux, users: [] };
    this.entries.set(spec.id, e);
    return e;
  }

  get(id: string): ChardevEntry | undefined {
    return this.entries.get(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Every chardev in creation order. */
  list(): ChardevEntry[] {
    return [...this.entries.values()];
  }

  /** An unused id with this prefix (serial0, compat_monitor0 ...). */
  freshId(prefix: string): string {
    for (let i = 0; ; i++) if (!this.entries.has(`${prefix}${i}`)) return `${prefix}${i}`;
  }

  private lookup(id: string, user: string): ChardevEntry {
    const e = this.entries.get(id);
    if (!e) throw new CharDevSpecError(`${user}: chardev '${id}' not found`, 'invalid');
    if (!e.mux && e.users.length > 0) {
      throw new CharDevSpecError(`${user}: Property 'chardev' can't take value '${id}', it's in use`, 'conflict');
    }
    e.users.push(user);
    return e;
  }

  /** The CharBackend a byte frontend attaches to (a port of the mux when mux=on). */
  claim(id: string, user: string): CharBackend {
    const e = this.lookup(id, user);
    return e.mux ? e.mux.port() : e.backend;
  }

  /**
   * Serve a session frontend (a monitor): every client of a listening socket
   * is a session; any other backend is one session while it is open.
   */
  claimSessions(id: string, user: string, handler: CharSessionHandler): void {
    const e = this.lookup(id, user);
    if (!e.mux && e.backend instanceof SocketChardev && e.backend.server) {
      e.backend.serveSessions(handler);
      return;
    }
    sessionOverBytes(e.mux ? e.mux.port() : e.backend, handler, e.id, e.mux !== null);
  }

  /** Resolves when every socket listens (and, with wait=on, has its first client); rejects on a host error. */
  async ready(onWait?: (e: ChardevEntry, addr: string) => void): Promise<void> {
    for (const e of this.entries.values()) {
      if (!(e.backend instanceof SocketChardev)) continue;
      await e.backend.listening;
      if (e.backend.wait) onWait?.(e, e.backend.describeAddr());
      await e.backend.ready;
    }
  }

  /** QEMU's query-chardev rows. */
  query(): { label: string; filename: string; 'frontend-open': boolean }[] {
    return this.list().map((e) => {
      let filename = chardevFilename(e.spec);
      const open = (e.backend as { isOpen?: boolean }).isOpen ?? true;
      if (e.backend instanceof SocketChardev) filename = `${open ? '' : 'disconnected:'}${e.backend.describeAddr()}${e.backend.server ? ',server=on' : ''}`;
      return { label: e.id, filename, 'frontend-open': e.users.length > 0 && open };
    });
  }

  flushAll(): void {
    for (const e of this.entries.values()) e.backend.flush();
  }

  closeAll(): void {
    for (const e of this.entries.values()) e.backend.close();
  }
}

/**
 * One session over a byte backend (stdio, a file, a client socket, a mux
 * port): a session opens when the backend reports 'opened' and ends on
 * 'closed'. On a mux, the monitor hears focus changes through `muxEvent`.
 */
class ByteSessionFrontend implements MuxAwareFrontend {
  private cb: CharSessionCallbacks | null = null;
  constructor(
    private readonly backend: CharBackend,
    private readonly handler: CharSessionHandler,
    private readonly peer: string,
    private readonly muxed: boolean,
  ) {}

  canReceive(): number {
    return this.cb ? 65536 : 0;
  }

  receive(bytes: Uint8Array): void {
    this.cb?.data(bytes);
  }

  event(e: 'opened' | 'closed'): void {
    if (e === 'opened' && !this.cb) {
      const backend = this.backend;
      const session: CharSession = {
        peer: this.peer,
        muxed: this.muxed,
        write: (bytes) => {
          for (const b of bytes) backend.write(b);
        },
        close: () => {},
      };
      this.cb = this.handler.open(session);
    } else if (e === 'closed' && this.cb) {
      const cb = this.cb;
      this.cb = null;
      cb.closed();
    }
  }

  muxEvent(e: MuxEvent): void {
    this.cb?.muxEvent?.(e);
  }
}

function sessionOverBytes(backend: CharBackend, handler: CharSessionHandler, peer: string, muxed: boolean): void {
  const fe: CharFrontend = new ByteSessionFrontend(backend, handler, peer, muxed);
  backend.attach(fe);
}
