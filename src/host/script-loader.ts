/**
 * Loads a single-file build (a CommonJS bundle, scripts/build.mjs) as a
 * classic script with V8's code cache beside it.
 *
 * Why: a process that starts the CLI compiled its ~1 MB bundle (~20 ms) and
 * then, lazily, every function it ran (the warm-up, the machine's
 * construction, the devices): ~35-40 ms of a ~170 ms start that QEMU does
 * not pay, and a twelfth of a U-Boot boot's CPU. ES modules cannot take a
 * code cache on Node 20; a script can (`vm.Script` `cachedData`). The build
 * makes the cache by running the CLI once (a machine that powers off at
 * once) and saving what V8 compiled by its exit; a later start
 * deserialises that instead of compiling. V8 refuses a cache made by another
 * V8 version or with other flags (the script then compiles as without one),
 * and checks the source only by its length, so a cache older than its
 * script (an edited or rebuilt bundle) is not offered at all.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** What became of the code cache: deserialised, refused by V8, or none to offer. */
export type CodeCacheUse = 'used' | 'rejected' | 'absent';

export interface LoadedScript<T> {
  readonly exports: T;
  readonly cache: CodeCacheUse;
}

/** Where a script's code cache lives. */
export function codeCachePath(file: string): string {
  return `${file}.cache`;
}

/**
 * The cache for `file` if there is one that may belong to it: written after it (the build
 * writes the bundle, then its cache) and readable. A cache that cannot be read is no cache.
 */
function freshCache(file: string, cache: string): Buffer | undefined {
  try {
    return statSync(cache).mtimeMs >= statSync(file).mtimeMs ? readFileSync(cache) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Run the CommonJS bundle `file` and return its exports. With `saveCacheAtExit`,
 * the code cache of everything compiled by the time the process exits is written
 * there (the build's training run).
 */
export function loadScript<T>(file: string, opts: { saveCacheAtExit?: string } = {}): LoadedScript<T> {
  const source = readFileSync(file, 'utf8');
  const cachePath = codeCachePath(file);
  const cachedData = opts.saveCacheAtExit ? undefined : freshCache(file, cachePath);
  // Node's own CommonJS wrapper, so the bundle sees what a required file sees.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const cache: CodeCacheUse = cachedData === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'used';
  const module = { exports: {} as T };
  const wrapper = script.runInThisContext() as (exports: T, require: NodeRequire, module: { exports: T }, filename: string, dirname: string) => void;
  wrapper(module.exports, createRequire(file), module, file, dirname(file));
  const out = opts.saveCacheAtExit;
  if (out !== undefined) process.once('exit', () => writeFileSync(out, script.createCachedData()));
  return { exports: module.exports, cache };
}
