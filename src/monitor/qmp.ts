/**
 * QMP, the QEMU Machine Protocol: every session gets the greeting, must
 * negotiate with qmp_capabilities, then runs commands one at a time (in
 * order) and receives events. Replies and errors have QEMU's shapes:
 * `{"return": ..., "id": ...}`, `{"error": {"class": ..., "desc": ...}}`.
 *
 * Bad input never reaches the machine: the stream parser (qmp-parser.ts)
 * bounds message size and depth, arguments are checked against each
 * command's declared parameters, a session's queue of waiting requests is
 * bounded, and a client that disconnects mid-command simply gets no reply.
 */
import type { CharSession, CharSessionCallbacks, CharSessionHandler } from '../hw/char/chardev-socket.js';
import type { MachineEvent } from '../machine/run-control.js';
import { RingBufChardev } from '../hw/char/chardev-extra.js';
import { MonitorError, type MonitorAccess, type QmpErrorClass } from './access.js';
import { HmpExecutor } from './hmp.js';
import { QmpStreamSplitter, type QmpInput } from './qmp-parser.js';
import { qmpJson } from './qmp-json.js';

/** Requests waiting behind a running command, per session. */
export const QMP_MAX_QUEUED = 64;
/**
 * Bytes of ids of refused requests still owed a reply, per session. Refusals
 * are answered in order (after the replies queued ahead of them), so their ids
 * wait too; a client that floods past this while a command runs is
 * disconnected rather than allowed to grow the queue without bound.
 */
export const QMP_MAX_REFUSED_BYTES = 1 << 20;
const QUEUE_FULL = 'too many requests waiting; wait for replies before sending more';

type ParamType = 'str' | 'int' | 'bool' | 'any';

interface QmpCommand {
  /** Parameters and whether each is optional; `extra` lets any other key through (device_add's properties). */
  params: Record<string, { type: ParamType; optional?: boolean }>;
  extra?: boolean;
  run(ctx: QmpContext, args: Record<string, unknown>): unknown;
}

interface QmpContext {
  access: MonitorAccess;
  hmp: HmpExecutor;
}

const none = {};

const COMMANDS: Record<string, QmpCommand> = {
  'query-version': { params: none, run: (c) => c.access.version },
  'query-status': { params: none, run: (c) => c.access.status() },
  'query-name': { params: none, run: (c) => (c.access.name !== undefined ? { name: c.access.name } : {}) },
  'query-commands': { params: none, run: () => ['qmp_capabilities', ...Object.keys(COMMANDS)].map((name) => ({ name })) },
  'query-cpus-fast': { params: none, run: (c) => c.access.cpusFast() },
  'query-block': { params: none, run: (c) => c.access.queryBlock() },
  'query-pci': { params: none, run: (c) => c.access.queryPci() },
  'query-chardev': { params: none, run: (c) => c.access.queryChardev() },
  'query-kvm': { params: none, run: () => ({ enabled: false, present: false }) },
  stop: { params: none, run: async (c) => (await c.access.stop(), {}) },
  cont: { params: none, run: async (c) => (await c.access.cont(), {}) },
  system_reset: { params: none, run: (c) => (c.access.systemReset(), {}) },
  system_powerdown: { params: none, run: (c) => (c.access.powerdown(), {}) },
  quit: { params: none, run: (c) => (c.access.quit('host-qmp-quit'), {}) },
  device_add: { params: { driver: { type: 'str' } }, extra: true, run: (c, a) => (c.access.deviceAdd(a), {}) },
  device_del: { params: { id: { type: 'str' } }, run: (c, a) => (c.access.deviceDel(a.id as string), {}) },
  'human-monitor-command': {
    params: { 'command-line': { type: 'str' }, 'cpu-index': { type: 'int', optional: true } },
    run: async (c, a) => {
      if (a['cpu-index'] !== undefined) await c.hmp.execute(`cpu ${a['cpu-index']}`);
      const out = await c.hmp.execute(a['command-line'] as string);
      return out ? `${out.replace(/\r?\n/g, '\r\n')}\r\n` : '';
    },
  },
  'ringbuf-read': {
    params: { device: { type: 'str' }, size: { type: 'int' }, format: { type: 'str', optional: true } },
    run: (c, a) => {
      const rb = ringbuf(c, a.device as string);
      const size = a.size as number;
      if (size < 0) throw new MonitorError('GenericError', "size must be greater than zero");
      const bytes = rb.read(Math.min(size, rb.size));
      return a.format === 'base64' ? Buffer.from(bytes).toString('base64') : new TextDecoder('utf-8').decode(bytes);
    },
  },
  'ringbuf-write': {
    params: { device: { type: 'str' }, data: { type: 'str' }, format: { type: 'str', optional: true } },
    run: (c, a) => {
      const rb = ringbuf(c, a.device as string);
      rb.feed(a.format === 'base64' ? new Uint8Array(Buffer.from(a.data as string, 'base64')) : new TextEncoder().encode(a.data as string));
      return {};
    },
  },
};

function ringbuf(c: QmpContext, id: string): RingBufChardev {
  const e = c.access.chardevs.get(id);
  if (!e) throw new MonitorError('DeviceNotFound', `Device '${id}' not found`);
  if (!(e.backend instanceof RingBufChardev)) throw new MonitorError('GenericError', `${id} is not a ringbuf device`);
  return e.backend;
}

/** Check arguments against the command's parameters (QEMU's wording). */
function checkArgs(cmd: QmpCommand, args: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(args)) {
    const p = cmd.params[k];
    if (!p) {
      if (cmd.extra) continue;
      throw new MonitorError('GenericError', `Parameter '${k}' is unexpected`);
    }
    const ok = p.type === 'any' || (p.type === 'str' ? typeof v === 'string' : p.type === 'bool' ? typeof v === 'boolean' : Number.isSafeInteger(v));
    if (!ok) throw new MonitorError('GenericError', `Invalid parameter type for '${k}', expected: ${p.type === 'str' ? 'string' : p.type === 'int' ? 'integer' : 'boolean'}`);
  }
  for (const [k, p] of Object.entries(cmd.params)) {
    if (!p.optional && args[k] === undefined) throw new MonitorError('GenericError', `Parameter '${k}' is missing`);
  }
}

export function qmpEventMessage(e: MachineEvent, nowMs = Date.now(), nowUs = 0): Record<string, unknown> {
  const seconds = Math.floor(nowMs / 1000);
  const microseconds = (nowMs % 1000) * 1000 + nowUs;
  const m: Record<string, unknown> = { timestamp: { seconds, microseconds }, event: e.event };
  if ('data' in e) m.data = e.data;
  return m;
}

export interface QmpServerOptions {
  pretty?: boolean;
}

/** A QMP monitor on one chardev (every client of a listening socket is a session). */
export class QmpServer implements CharSessionHandler {
  private readonly sessions = new Set<(m: Record<string, unknown>) => void>();
  private readonly unsubscribe: () => void;
  readonly pretty: boolean;

  constructor(
    private readonly access: MonitorAccess,
    opts: QmpServerOptions = {},
  ) {
    this.pretty = opts.pretty ?? false;
    this.unsubscribe = access.machine.events.on((e) => {
      const m = qmpEventMessage(e);
      for (const send of this.sessions) send(m);
    });
  }

  close(): void {
    this.unsubscribe();
    this.sessions.clear();
  }

  open(session: CharSession): CharSessionCallbacks {
    const enc = new TextEncoder();
    let closed = false;
    let negotiated = false;
    const send = (m: Record<string, unknown>): void => {
      if (!closed) session.write(enc.encode(`${qmpJson(m, this.pretty)}\r\n`));
    };
    const sendEvent = (m: Record<string, unknown>): void => {
      if (negotiated) send(m);
    };
    const ctx: QmpContext = { access: this.access, hmp: new HmpExecutor(this.access) };
    // A refusal waits in line like a request so that replies keep the order of requests.
    const queue: (QmpInput | { kind: 'refused'; id: unknown; bytes: number })[] = [];
    let requests = 0;
    let refusedBytes = 0;
    let busy = false;

    const reply = (id: unknown, body: Record<string, unknown>): void => send(id === undefined ? body : { ...body, id });
    const error = (id: unknown, cls: QmpErrorClass, desc: string): void => reply(id, { error: { class: cls, desc } });

    const handle = async (input: QmpInput): Promise<void> => {
      if (input.kind === 'error') return error(input.id, 'GenericError', input.desc);
      const { execute, args, id } = input;
      if (input.oob) return error(id, 'GenericError', "QMP input member 'exec-oob' is not supported (out-of-band execution was not enabled)");
      if (execute === 'qmp_capabilities') {
        if (negotiated) return error(id, 'CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
        const en = args.enable;
        for (const k of Object.keys(args)) if (k !== 'enable') return error(id, 'GenericError', `Parameter '${k}' is unexpected`);
        if (en !== undefined && (!Array.isArray(en) || en.length > 0)) {
          return error(id, 'GenericError', `Capability '${Array.isArray(en) ? String(en[0]) : ''}' not available`);
        }
        negotiated = true;
        return reply(id, { return: {} });
      }
      if (!negotiated) return error(id, 'CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
      const cmd = Object.prototype.hasOwnProperty.call(COMMANDS, execute) ? COMMANDS[execute] : undefined;
      if (!cmd) return error(id, 'CommandNotFound', `The command ${execute} has not been found`);
      try {
        checkArgs(cmd, args);
        const ret = await cmd.run(ctx, args);
        reply(id, { return: ret ?? {} });
      } catch (e) {
        if (e instanceof MonitorError) error(id, e.errorClass, e.message);
        else error(id, 'GenericError', `internal error: ${(e as Error).message ?? String(e)}`);
      }
    };

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      while (queue.length && !closed) {
        const next = queue.shift()!;
        if (next.kind === 'refused') {
          refusedBytes -= next.bytes;
          error(next.id, 'GenericError', QUEUE_FULL);
        } else {
          requests--;
          await handle(next);
        }
      }
      busy = false;
    };

    const splitter = new QmpStreamSplitter((input) => {
      if (closed) return;
      if (requests < QMP_MAX_QUEUED) {
        requests++;
        queue.push(input);
        return;
      }
      const bytes = input.id === undefined ? 16 : 16 + qmpJson(input.id, false).length;
      if (refusedBytes + bytes > QMP_MAX_REFUSED_BYTES) {
        closed = true;
        queue.length = 0;
        session.close();
        return;
      }
      refusedBytes += bytes;
      queue.push({ kind: 'refused', id: input.id, bytes });
    });

    this.sessions.add(sendEvent);
    send({ QMP: { version: this.access.version, capabilities: ['oob'] } });
    return {
      data: (bytes) => {
        if (closed) return;
        splitter.push(bytes);
        void pump();
      },
      closed: () => {
        closed = true;
        queue.length = 0;
        this.sessions.delete(sendEvent);
      },
    };
  }
}
