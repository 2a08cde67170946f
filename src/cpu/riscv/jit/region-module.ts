/**
 * A region's WebAssembly module around its function bodies (region-gen.ts writes those):
 * types, imports (the memory holding the state area, the trampoline's helper table, as blocks
 * import them: trampoline.ts), the chunk functions, then one function per slot, exported as
 * "0", "1", ... in slot order.
 */
import { T_REGION } from './region-templates.js';
import { BLOCK_TYPE, FUNC_TYPES, LD_TYPE, ST_TYPE } from './trampoline.js';
import { T_F64, T_I32 } from './wasm-writer.js';

/**
 * The module of `code`'s chunk bodies (each [start, end) in `bodies`, size-prefixed) and slot
 * functions (`wrappers`: one run of bodies, `nSlots` of them).
 */
export function regionModule(code: Uint8Array, bodies: readonly number[], wrappers: readonly [number, number], nSlots: number): Uint8Array<ArrayBuffer> {
  const head: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, body: readonly number[] | Uint8Array): void => {
    head.push(id);
    uleb(head, body.length);
    for (const b of body) head.push(b);
  };
  const types: number[] = [4];
  for (const t of [BLOCK_TYPE, LD_TYPE, ST_TYPE]) for (const b of FUNC_TYPES[t]!) types.push(b);
  types.push(0x60, 4, T_F64, T_I32, T_I32, T_I32, 1, T_I32);
  section(1, types);
  // e.m: a shared memory (flags 3: max present, shared; 1 .. 65536 pages); e.h: a table of 4 funcrefs.
  section(2, [2, 1, 0x65, 1, 0x6d, 0x02, 0x03, 0x01, 0x80, 0x80, 0x04, 1, 0x65, 1, 0x68, 0x01, 0x70, 0x01, 0x04, 0x04]);
  const nChunks = bodies.length >> 1;
  const nf = nChunks + nSlots;
  const funcs: number[] = [];
  uleb(funcs, nf);
  for (let k = 0; k < nChunks; k++) funcs.push(T_REGION);
  for (let k = 0; k < nSlots; k++) funcs.push(0);
  section(3, funcs);
  // Exports: slot k's function as k in decimal, written without strings (this runs cold).
  const exps = new Uint8Array(5 + 10 * nSlots);
  let q = 0;
  q = ulebAt(exps, q, nSlots);
  for (let k = 0; k < nSlots; k++) {
    const n = k < 10 ? 1 : k < 100 ? 2 : k < 1000 ? 3 : k < 10000 ? 4 : 5;
    exps[q++] = n;
    for (let d = n - 1, v = k; d >= 0; d--, v = (v / 10) | 0) exps[q + d] = 0x30 + (v % 10);
    q += n;
    exps[q++] = 0x00;
    q = ulebAt(exps, q, nChunks + k);
  }
  section(7, exps.subarray(0, q));
  let size = wrappers[1] - wrappers[0];
  for (let k = 0; k < bodies.length; k += 2) size += bodies[k + 1]! - bodies[k]!;
  const count: number[] = [];
  uleb(count, nf);
  head.push(10);
  uleb(head, size + count.length);
  for (const b of count) head.push(b);
  const m = new Uint8Array(head.length + size);
  m.set(head, 0);
  let at = head.length;
  for (let k = 0; k < bodies.length; k += 2) {
    m.set(code.subarray(bodies[k]!, bodies[k + 1]!), at);
    at += bodies[k + 1]! - bodies[k]!;
  }
  m.set(code.subarray(wrappers[0], wrappers[1]), at);
  return m;
}

function uleb(a: number[], v: number): void {
  do {
    const b = v & 0x7f;
    v >>>= 7;
    a.push(v !== 0 ? b | 0x80 : b);
  } while (v !== 0);
}

function ulebAt(a: Uint8Array, q: number, v: number): number {
  do {
    const b = v & 0x7f;
    v >>>= 7;
    a[q++] = v !== 0 ? b | 0x80 : b;
  } while (v !== 0);
  return q;
}
