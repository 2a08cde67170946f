/**
 * The block layer's own options: -drive properties and -blockdev node
 * descriptions, turned into DriveSpecs. Unknown properties and values are
 * errors (QEMU's wording where it has one), never silently ignored.
 */
import { BlockError, CACHE_MODES, type CacheMode } from './driver.js';
import type { DriveSpec, ImageFormat } from './open.js';

/** -drive keys the machine layer handles (interface, placement, naming). */
const MACHINE_KEYS = new Set(['if', 'id', 'index', 'unit', 'bus', 'media', 'serial']);

function onOff(v: string | undefined, what: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new BlockError(`${what}: '${v}' is not on or off`);
}

function format(v: string | undefined, label: string): ImageFormat | undefined {
  if (v === undefined) return undefined;
  if (v === 'raw' || v === 'qcow2') return v;
  throw new BlockError(`${label}: format '${v}' is not supported (raw or qcow2)`);
}

/** A -drive's block properties; `globalSnapshot` is -snapshot (an explicit snapshot= wins). */
export function driveSpec(props: Readonly<Record<string, string>>, globalSnapshot: boolean, label = `-drive file=${props.file ?? ''}`): DriveSpec {
  const fmt = format(props.format, label);
  for (const k of Object.keys(props)) {
    if (MACHINE_KEYS.has(k) || ['file', 'format', 'readonly', 'read-only', 'cache', 'discard', 'snapshot', 'aio', 'werror', 'rerror', 'backing'].includes(k)) continue;
    throw new BlockError(`${label}: Block format '${fmt ?? 'raw'}' does not support the option '${k}'`);
  }
  if (!props.file) throw new BlockError(`${label}: file= is required`);
  const cache = props.cache ?? 'writeback';
  if (!(CACHE_MODES as readonly string[]).includes(cache)) throw new BlockError(`${label}: invalid cache option '${cache}' (writeback, none, writethrough, directsync, unsafe)`);
  const discard = props.discard ?? 'ignore';
  if (!['ignore', 'off', 'unmap', 'on'].includes(discard)) throw new BlockError(`${label}: invalid discard option '${discard}' (ignore or unmap)`);
  if (props.aio !== undefined && props.aio !== 'threads') throw new BlockError(`${label}: aio=${props.aio} is not supported (threads)`);
  for (const k of ['werror', 'rerror'] as const) {
    if (props[k] !== undefined && props[k] !== 'report') throw new BlockError(`${label}: ${k}=${props[k]} is not supported (errors are reported to the guest: ${k}=report)`);
  }
  if (props.media !== undefined && props.media !== 'disk') throw new BlockError(`${label}: media=${props.media} is not supported on virt (disk only)`);
  return {
    file: props.file,
    format: fmt,
    readonly: onOff(props.readonly ?? props['read-only'], `${label},readonly`, false),
    cache: cache as CacheMode,
    discard: discard === 'unmap' || discard === 'on' ? 'unmap' : 'ignore',
    snapshot: onOff(props.snapshot, `${label},snapshot`, globalSnapshot),
    backing: props.backing === 'null' ? false : undefined,
  };
}

/** QEMU's key=value and JSON -blockdev syntaxes, flattened to dotted keys. */
export function parseBlockdev(text: string): Record<string, string> {
  if (text.trimStart().startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new BlockError(`-blockdev ${text}: ${(e as Error).message}`);
    }
    const out: Record<string, string> = {};
    const walk = (o: unknown, prefix: string): void => {
      if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
        for (const [k, v] of Object.entries(o)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else out[prefix] = o === null ? 'null' : typeof o === 'boolean' ? (o ? 'on' : 'off') : String(o);
    };
    walk(obj, '');
    return out;
  }
  const out: Record<string, string> = {};
  for (const part of text.replace(/,,/g, '\u0000').split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new BlockError(`-blockdev ${text}: '${part}' needs a value`);
    out[part.slice(0, eq)] = part.slice(eq + 1).replace(/\u0000/g, ',');
  }
  return out;
}

const NODE_KEYS = new Set(['driver', 'node-name', 'read-only', 'auto-read-only', 'discard', 'cache.direct', 'cache.no-flush', 'detect-zeroes']);

/**
 * -blockdev nodes to drives (as -drive property maps with id = node-name):
 * a format node (raw, qcow2) over a file node, given inline (file.driver=
 * file,file.filename=...) or by node name (file=NODE); a file node nobody
 * uses as `file` is itself a raw drive. Devices name them with drive=.
 */
export function blockdevDrives(nodes: readonly Record<string, string>[]): Record<string, string>[] {
  const byName = new Map<string, Record<string, string>>();
  for (const n of nodes) {
    const name = n['node-name'];
    if (!name) throw new BlockError(`-blockdev driver=${n.driver ?? ''}: node-name is required`);
    if (byName.has(name)) throw new BlockError(`-blockdev node-name=${name}: duplicate node name`);
    if (!['file', 'raw', 'qcow2'].includes(n.driver ?? '')) throw new BlockError(`-blockdev node-name=${name}: driver '${n.driver ?? ''}' is not supported (file, raw, qcow2)`);
    byName.set(name, n);
  }
  const usedAsFile = new Set<string>();
  const out: Record<string, string>[] = [];
  const common = (n: Record<string, string>, name: string, d: Record<string, string>): void => {
    if (n['read-only'] !== undefined) d.readonly = n['read-only'];
    if (n.discard !== undefined) d.discard = n.discard;
    const direct = onOff(n['cache.direct'], `-blockdev node-name=${name},cache.direct`, false);
    const noFlush = onOff(n['cache.no-flush'], `-blockdev node-name=${name},cache.no-flush`, false);
    if (noFlush) d.cache = 'unsafe';
    else if (direct) d.cache = 'none';
    if (n['detect-zeroes'] !== undefined && n['detect-zeroes'] !== 'off') throw new BlockError(`-blockdev node-name=${name}: detect-zeroes is not supported`);
  };
  for (const [name, n] of byName) {
    if (n.driver === 'file') continue;
    const d: Record<string, string> = { id: name, if: 'none', format: n.driver! };
    common(n, name, d);
    for (const k of Object.keys(n)) {
      if (NODE_KEYS.has(k) || k === 'file' || k === 'backing' || k.startsWith('file.')) continue;
      throw new BlockError(`-blockdev node-name=${name}: unsupported option '${k}'`);
    }
    if (n.backing !== undefined) {
      if (n.backing !== 'null') throw new BlockError(`-blockdev node-name=${name}: backing=${n.backing}: only backing=null is supported (the image's own backing file is used otherwise)`);
      d.backing = 'null';
    }
    const ref = n.file;
    if (ref !== undefined) {
      const f = byName.get(ref);
      if (!f || f.driver !== 'file') throw new BlockError(`-blockdev node-name=${name}: file=${ref} is not a file node`);
      if (!f.filename) throw new BlockError(`-blockdev node-name=${ref}: filename is required`);
      usedAsFile.add(ref);
      d.file = f.filename;
      common(f, ref, d);
    } else {
      if (n['file.driver'] !== 'file') throw new BlockError(`-blockdev node-name=${name}: needs file=NODE or file.driver=file,file.filename=PATH`);
      if (!n['file.filename']) throw new BlockError(`-blockdev node-name=${name}: file.filename is required`);
      for (const k of Object.keys(n)) {
        if (k.startsWith('file.') && !['file.driver', 'file.filename', 'file.cache.direct', 'file.cache.no-flush', 'file.discard', 'file.read-only'].includes(k)) {
          throw new BlockError(`-blockdev node-name=${name}: unsupported option '${k}'`);
        }
      }
      d.file = n['file.filename'];
      const inner: Record<string, string> = {};
      for (const [k, v] of Object.entries(n)) if (k.startsWith('file.')) inner[k.slice(5)] = v;
      common(inner, name, d);
    }
    out.push(d);
  }
  for (const [name, n] of byName) {
    if (n.driver !== 'file' || usedAsFile.has(name)) continue;
    for (const k of Object.keys(n)) if (!NODE_KEYS.has(k) && k !== 'filename') throw new BlockError(`-blockdev node-name=${name}: unsupported option '${k}'`);
    if (!n.filename) throw new BlockError(`-blockdev node-name=${name}: filename is required`);
    const d: Record<string, string> = { id: name, if: 'none', format: 'raw', file: n.filename };
    common(n, name, d);
    out.push(d);
  }
  return out;
}
