/**
 * Opening a drive: the host file, the format (given, or probed as QEMU 7.2
 * does), the backing chain, and the -snapshot overlay, into one BlockBackend.
 * Every problem is a BlockError with one clear line, raised before the guest
 * starts; files opened on the way are closed again.
 */
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BlockBackend } from './backend.js';
import { BlockError, type BlockDriver, type CacheMode } from './driver.js';
import { ProbedRaw, probeFormat, rawProbeWarning } from './probe.js';
import { createQcow2 } from './qcow2/create.js';
import { Qcow2FormatError } from './qcow2/format.js';
import { Qcow2 } from './qcow2/qcow2.js';
import { RawFile } from './raw-file.js';

export type ImageFormat = 'raw' | 'qcow2';

export interface DriveSpec {
  file: string;
  /** Undefined: probe (raw gets QEMU's warning and the sector-0 restriction). */
  format?: ImageFormat;
  readonly: boolean;
  cache: CacheMode;
  discard: 'ignore' | 'unmap';
  /** Writes go to a temporary qcow2 overlay; the image is opened read-only and never changes. */
  snapshot: boolean;
  /** false: do not open the backing file a qcow2 header names (-blockdev backing=null). */
  backing?: boolean;
}

export interface OpenContext {
  /** Where warnings go (stderr in the CLI). */
  warn(message: string): void;
  /** Directory for -snapshot overlays (default: the OS temp directory). */
  tmpdir?: string;
}

/** Longest backing chain tsvmm follows. */
export const MAX_BACKING_DEPTH = 64;

interface Layer {
  path: string;
  format: ImageFormat;
  readonly: boolean;
  cache: CacheMode;
  discard: 'ignore' | 'unmap';
  probeWarning: boolean;
  noBacking: boolean;
}

/**
 * node:fs/promises, loaded at first use, not imported: loading it costs every start ~2 ms of CPU
 * (docs/cpu.md, start-up), and only a machine with drives uses it.
 */
const fsp = (): typeof import('node:fs/promises') => process.getBuiltinModule('node:fs/promises');

async function canonical(path: string): Promise<string> {
  try {
    return await fsp().realpath(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BlockError(`Could not open '${path}': No such file or directory`, 'ENOENT');
    throw new BlockError(`Could not open '${path}': ${(e as Error).message}`, code);
  }
}

async function openLayer(spec: Omit<Layer, 'format'> & { format?: ImageFormat }, chain: string[], ctx: OpenContext, describe: string[]): Promise<BlockDriver> {
  const real = await canonical(spec.path);
  if (chain.includes(real)) throw new BlockError(`backing chain has a cycle: ${[...chain, real].join(' -> ')}`);
  if (chain.length >= MAX_BACKING_DEPTH) throw new BlockError(`backing chain of '${chain[0]}' is longer than ${MAX_BACKING_DEPTH} images`);
  const file = new RawFile(spec.path, { readonly: spec.readonly, cache: spec.cache, discard: spec.discard });
  try {
    let format = spec.format;
    let probed = false;
    if (format === undefined) {
      const head = new Uint8Array(512);
      await file.read(head, 0);
      const guess = probeFormat(head);
      if (guess !== 'raw' && guess !== 'qcow2') throw new BlockError(`Could not open '${spec.path}': image format '${guess}' is not supported (tsvmm reads raw and qcow2)`);
      format = guess;
      probed = guess === 'raw';
      if (probed && spec.probeWarning) ctx.warn(rawProbeWarning(spec.path));
    }
    if (format === 'raw') {
      describe.push(`${spec.path} (raw${probed ? ', probed' : ''})`);
      return probed && !spec.readonly ? new ProbedRaw(file) : file;
    }
    const q = await Qcow2.open(file, {
      noBacking: spec.noBacking,
      openBacking: async (name, fmt) => {
        const path = isAbsolute(name) ? name : join(dirname(spec.path), name);
        if (fmt !== undefined && fmt !== 'raw' && fmt !== 'qcow2') throw new BlockError(`backing file '${path}' has format '${fmt}', which is not supported`);
        try {
          return await openLayer(
            { path, format: fmt as ImageFormat | undefined, readonly: true, cache: spec.cache, discard: 'ignore', probeWarning: false, noBacking: false },
            [...chain, real],
            ctx,
            describe,
          );
        } catch (e) {
          if (e instanceof BlockError && !/^backing chain/.test(e.message)) throw new BlockError(`Could not open backing file: ${e.message}`, e.code);
          throw e;
        }
      },
    });
    describe.unshift(`${spec.path} (qcow2 v${q.header.version}, ${q.cs / 1024} KiB clusters${q.snapshots.length ? `, snapshots: ${q.snapshots.map((s) => s.name).join(', ')}` : ''})`);
    return q;
  } catch (e) {
    await file.close();
    if (e instanceof Qcow2FormatError) throw new BlockError(`Could not open '${spec.path}': ${e.message}`);
    throw e;
  }
}

/** Open the driver graph for a drive and wrap it in a BlockBackend named `name`. */
export async function openBlockBackend(name: string, spec: DriveSpec, ctx: OpenContext): Promise<BlockBackend> {
  const describe: string[] = [];
  const base = await openLayer(
    {
      path: spec.file,
      format: spec.format,
      readonly: spec.readonly || spec.snapshot,
      cache: spec.cache,
      discard: spec.discard,
      probeWarning: true,
      noBacking: spec.backing === false,
    },
    [],
    ctx,
    describe,
  );
  if (!spec.snapshot || spec.readonly) return new BlockBackend(name, base, describe.join(' -> '));
  try {
    const overlay = await openOverlay(base, spec, ctx);
    return new BlockBackend(name, overlay, `temporary overlay -> ${describe.join(' -> ')}`);
  } catch (e) {
    await base.close();
    throw e;
  }
}

/**
 * QEMU's -snapshot: a qcow2 file in the temp directory whose backing file is
 * the drive's image (opened read-only). It is unlinked as soon as it is
 * open, so it disappears with the process however that ends.
 */
async function openOverlay(base: BlockDriver, spec: DriveSpec, ctx: OpenContext): Promise<BlockDriver> {
  // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
  const path = join(ctx.tmpdir ?? tmpdir(), `tsvmm-snapshot-${process.pid}-${process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')}.qcow2`);
  try {
    await fsp().writeFile(path, new Uint8Array(0), { flag: 'wx' });
    const file = new RawFile(path, { cache: 'unsafe', discard: spec.discard });
    await fsp().unlink(path);
    await createQcow2(file, { size: base.size, backingFile: resolve(spec.file), backingFormat: base instanceof Qcow2 ? 'qcow2' : 'raw' });
    return await Qcow2.open(file, { openBacking: () => Promise.resolve(base) });
  } catch (e) {
    await fsp().unlink(path).catch(() => undefined);
    if (e instanceof BlockError) throw e;
    throw new BlockError(`could not create the -snapshot overlay in ${dirname(path)}: ${(e as Error).message}`, (e as NodeJS.ErrnoException).code);
  }
}
