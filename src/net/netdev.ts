/**
 * QEMU's -netdev and -nic, parsed into typed specs (pure; errors are
 * NetdevSpecError with QEMU's meaning), and opened into backends.
 *
 *   -netdev user,id=ID[,hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport]...
 *   -netdev stream,id=ID[,server=on|off],addr.type=inet,addr.host=H,addr.port=P
 *   -netdev stream,id=ID[,server=on|off],addr.type=unix,addr.path=PATH
 *   -netdev socket,id=ID,listen=[HOST]:PORT | connect=HOST:PORT
 *   -nic none | -nic TYPE[,id=ID][,model=virtio-net-pci|virtio|virtio-net-device][,mac=MAC][,TYPE's options]
 */
import { createServer } from 'node:net';
import { NetdevSpecError, type NetBackend } from './backend.js';
import { PasstLink, USER_NET, type HostForward } from './passt.js';
import { StreamClientLink, StreamServerLink, type StreamAddress } from './stream.js';

export type NetdevSpec =
  | { type: 'user'; id: string; forwards: HostForward[] }
  | { type: 'stream' | 'socket'; id: string; server: boolean; addr: StreamAddress };

export interface NicDevice {
  driver: string;
  props: Record<string, string>;
}

/** Split "a,b=c,,d" into ordered key/value pairs (repeated keys kept, ",," is a comma). */
function pairs(text: string, implicitKey: string): [string, string][] {
  const parts = text.replace(/,,/g, '\u0000').split(',').map((p) => p.replace(/\u0000/g, ','));
  const out: [string, string][] = [];
  parts.forEach((p, i) => {
    if (p === '') return;
    const eq = p.indexOf('=');
    if (eq < 0) out.push(i === 0 ? [implicitKey, p] : [p, 'on']);
    else out.push([p.slice(0, eq), p.slice(eq + 1)]);
  });
  return out;
}

function port(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new NetdevSpecError(`${what}: '${text}' is not a port number`);
  return n;
}

function onOff(v: string, what: string): boolean {
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new NetdevSpecError(`${what}: '${v}' is not on or off`);
}

/** QEMU's hostfwd rule: [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport. */
export function parseHostForward(rule: string): HostForward {
  const m = /^(tcp|udp|):([^:-]*):(\d+)-([^:]*):(\d+)$/.exec(rule);
  if (!m) throw new NetdevSpecError(`invalid host forwarding rule '${rule}' (want [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)`);
  const [, proto, hostAddr, hp, guestAddr, gp] = m;
  if (hostAddr && !/^\d+\.\d+\.\d+\.\d+$/.test(hostAddr)) throw new NetdevSpecError(`invalid host forwarding rule '${rule}': host address '${hostAddr}' is not an IPv4 address`);
  if (guestAddr && guestAddr !== USER_NET.guest) {
    throw new NetdevSpecError(`invalid host forwarding rule '${rule}': the guest's address is ${USER_NET.guest} (passt forwards to the guest only)`);
  }
  const hostPort = port(hp!, `hostfwd=${rule}`);
  const guestPort = port(gp!, `hostfwd=${rule}`);
  if (hostPort === 0 || guestPort === 0) throw new NetdevSpecError(`invalid host forwarding rule '${rule}': port 0`);
  return { proto: proto === 'udp' ? 'udp' : 'tcp', hostAddr: hostAddr ?? '', hostPort, guestPort };
}

/** "[host]:port" or "host:port" (IPv6 in brackets). */
function inetAddr(text: string, what: string, hostRequired: boolean): StreamAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new NetdevSpecError(`${what}: '${text}' is not host:port`);
  const host = m[1] ?? m[2] ?? '';
  if (hostRequired && !host) throw new NetdevSpecError(`${what}: host missing in '${text}'`);
  return { kind: 'inet', host: host || '0.0.0.0', port: port(m[3]!, what) };
}

/** Options of one netdev type: the spec built from the pairs left after type and id. */
function netdevOptions(type: string, id: string, kv: [string, string][], what: string): NetdevSpec {
  const bad = (k: string): never => {
    throw new NetdevSpecError(`${what}: Parameter '${k}' is unexpected (or not supported by tsvmm)`);
  };
  switch (type) {
    case 'user': {
      const forwards: HostForward[] = [];
      for (const [k, v] of kv) {
        if (k === 'hostfwd') forwards.push(parseHostForward(v));
        else if (k === 'ipv4' && onOff(v, `${what}: ipv4`)) continue;
        // QEMU's slirp defaults are what passt is configured with; anything else cannot be honoured.
        else if (k === 'net' && (v === '10.0.2.0/24' || v === '10.0.2.0/255.255.255.0')) continue;
        else if ((k === 'host' && v === USER_NET.gateway) || (k === 'dns' && v === USER_NET.dns) || (k === 'dhcpstart' && v === USER_NET.guest)) continue;
        else if (k === 'net' || k === 'host' || k === 'dns' || k === 'dhcpstart') {
          throw new NetdevSpecError(`${what}: ${k}=${v} is not supported (the user network is fixed: guest ${USER_NET.guest}/24, host ${USER_NET.gateway}, DNS ${USER_NET.dns})`);
        } else bad(k);
      }
      return { type: 'user', id, forwards };
    }
    case 'stream': {
      const o = new Map<string, string>();
      for (const [k, v] of kv) {
        if (!['server', 'addr.type', 'addr.host', 'addr.port', 'addr.path'].includes(k)) bad(k);
        o.set(k, v);
      }
      const server = o.has('server') ? onOff(o.get('server')!, `${what}: server`) : false;
      const t = o.get('addr.type');
      if (t === undefined) throw new NetdevSpecError(`${what}: Parameter 'addr.type' is missing`);
      if (t === 'inet') {
        const host = o.get('addr.host');
        const p = o.get('addr.port');
        if (host === undefined) throw new NetdevSpecError(`${what}: Parameter 'addr.host' is missing`);
        if (p === undefined) throw new NetdevSpecError(`${what}: Parameter 'addr.port' is missing`);
        if (o.has('addr.path')) bad('addr.path');
        if (!server && (host === '' || p === '0')) throw new NetdevSpecError(`${what}: a client needs a host and a port to connect to`);
        return { type: 'stream', id, server, addr: { kind: 'inet', host: host || '0.0.0.0', port: port(p, `${what}: addr.port`) } };
      }
      if (t === 'unix') {
        const path = o.get('addr.path');
        if (!path) throw new NetdevSpecError(`${what}: Parameter 'addr.path' is missing`);
        if (o.has('addr.host') || o.has('addr.port')) bad(o.has('addr.host') ? 'addr.host' : 'addr.port');
        return { type: 'stream', id, server, addr: { kind: 'unix', path } };
      }
      throw new NetdevSpecError(`${what}: addr.type=${t} is not supported (inet or unix)`);
    }
    case 'socket': {
      let listen: string | undefined;
      let connect: string | undefined;
      for (const [k, v] of kv) {
        if (k === 'listen') listen = v;
        else if (k === 'connect') connect = v;
        else if (k === 'mcast' || k === 'udp' || k === 'fd' || k === 'localaddr') {
          throw new NetdevSpecError(`${what}: ${k}= is not supported by tsvmm (listen= or connect= over TCP)`);
        } else bad(k);
      }
      if ((listen === undefined) === (connect === undefined)) throw new NetdevSpecError(`${what}: exactly one of listen= or connect= is required`);
      if (listen !== undefined) return { type: 'socket', id, server: true, addr: inetAddr(listen, `${what}: listen`, false) };
      return { type: 'socket', id, server: false, addr: inetAddr(connect!, `${what}: connect`, true) };
    }
    default:
      throw new NetdevSpecError(`${what}: network backend '${type}' is not supported (user, stream, socket)`);
  }
}

const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** One -netdev argument. */
export function parseNetdev(text: string): NetdevSpec {
  const kv = pairs(text, 'type');
  const what = `-netdev ${text}`;
  const type = kv.find(([k]) => k === 'type')?.[1];
  const id = kv.find(([k]) => k === 'id')?.[1];
  if (!type) throw new NetdevSpecError(`${what}: Parameter 'type' is missing`);
  if (id === undefined) throw new NetdevSpecError(`${what}: Parameter 'id' is missing`);
  if (!ID_RE.test(id)) throw new NetdevSpecError(`${what}: Parameter 'id' expects an identifier`);
  return netdevOptions(type, id, kv.filter(([k]) => k !== 'type' && k !== 'id'), what);
}

/** QEMU's -nic models on riscv virt; "virtio" is QEMU's alias for virtio-net-pci. */
const NIC_MODELS: Record<string, string> = { virtio: 'virtio-net-pci', 'virtio-net-pci': 'virtio-net-pci', 'virtio-net-device': 'virtio-net-device' };

/** One -nic argument (the n-th): a netdev and the device in front of it, or nothing for `-nic none`. */
export function parseNic(text: string, n: number): { netdev: NetdevSpec; device: NicDevice } | null {
  const kv = pairs(text, 'type');
  const what = `-nic ${text}`;
  const type = kv.find(([k]) => k === 'type')?.[1];
  if (!type) throw new NetdevSpecError(`${what}: Parameter 'type' is missing`);
  if (type === 'none') return null;
  const id = kv.find(([k]) => k === 'id')?.[1] ?? `__org.qemu.nic${n}`;
  const model = kv.find(([k]) => k === 'model')?.[1] ?? 'virtio-net-pci';
  const driver = NIC_MODELS[model];
  if (!driver) throw new NetdevSpecError(`${what}: model '${model}' is not supported (${Object.keys(NIC_MODELS).join(', ')})`);
  const props: Record<string, string> = { netdev: id };
  const mac = kv.find(([k]) => k === 'mac')?.[1];
  if (mac !== undefined) props.mac = mac;
  const rest = kv.filter(([k]) => !['type', 'id', 'model', 'mac'].includes(k));
  return { netdev: netdevOptions(type, id, rest, what), device: { driver, props } };
}

/**
 * Open every backend; resolves when all are ready (passt running and
 * connected, listeners bound, clients connected). On any failure the ones
 * already opened are closed and the error is a NetdevSpecError.
 */
export async function openNetdevs(specs: readonly NetdevSpec[], log: (m: string) => void, pathEnv = process.env.PATH): Promise<Map<string, NetBackend>> {
  const out = new Map<string, NetBackend>();
  try {
    for (const s of specs) {
      if (out.has(s.id)) throw new NetdevSpecError(`-netdev id=${s.id}: Duplicate ID '${s.id}' for netdev`);
      if (s.type === 'user') {
        for (const f of s.forwards) await checkForward(f);
        out.set(s.id, new PasstLink(s.id, s.forwards, log, pathEnv));
      }
      else if (s.server) {
        const l = new StreamServerLink(s.id, s.type, s.addr, log);
        out.set(s.id, l);
        await l.ready;
      } else {
        const l = new StreamClientLink(s.id, s.type, s.addr, log);
        out.set(s.id, l);
        await l.ready;
      }
    }
  } catch (e) {
    for (const b of out.values()) b.close();
    throw e;
  }
  return out;
}

/**
 * passt exits when it cannot bind a forwarded port; QEMU refuses such a rule
 * at start-up. Binding the port once here (and releasing it) turns the
 * common case, a port already in use, into a setup error before the guest runs.
 */
async function checkForward(f: HostForward): Promise<void> {
  const rule = `${f.proto}:${f.hostAddr}:${f.hostPort}-:${f.guestPort}`;
  const fail = (e: Error): NetdevSpecError => new NetdevSpecError(`could not set up host forwarding rule '${rule}': ${e.message}`);
  if (f.proto === 'tcp') {
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e) => reject(fail(e)));
      srv.listen({ port: f.hostPort, host: f.hostAddr || undefined, exclusive: true }, () => srv.close(() => resolve()));
    });
  } else {
    // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
    const sock = process.getBuiltinModule('node:dgram').createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (e) => reject(fail(e)));
      sock.bind({ port: f.hostPort, address: f.hostAddr || undefined, exclusive: true }, () => sock.close(() => resolve()));
    });
  }
}
