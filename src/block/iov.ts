/** Scatter/gather helpers for format drivers: views into a list of buffers, never copies. */

/** Total bytes of `iov`. */
export function iovLength(iov: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of iov) n += b.length;
  return n;
}

/** The byte range [start, start+len) of `iov` as subarrays (views of the same memory). */
export function iovSlice(iov: readonly Uint8Array[], start: number, len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of iov) {
    if (len <= 0) break;
    if (start >= b.length) {
      start -= b.length;
      continue;
    }
    const n = Math.min(b.length - start, len);
    out.push(b.subarray(start, start + n));
    len -= n;
    start = 0;
  }
  return out;
}

/** Copy `iov` bytes [start, start+len) into `dst` at `at`. */
export function iovCopyOut(iov: readonly Uint8Array[], start: number, len: number, dst: Uint8Array, at: number): void {
  for (const b of iovSlice(iov, start, len)) {
    dst.set(b, at);
    at += b.length;
  }
}

/** Zero `iov` bytes [start, start+len). */
export function iovZero(iov: readonly Uint8Array[], start: number, len: number): void {
  for (const b of iovSlice(iov, start, len)) b.fill(0);
}
