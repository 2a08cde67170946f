/**
 * QEMU's frame protocol for stream sockets (`-netdev stream`, `-netdev
 * socket,listen=|connect=`, and passt's qemu mode): every Ethernet frame is
 * preceded by its length as a 32-bit big-endian integer. Nothing else is on
 * the wire, so one bad length would desynchronise the stream for good; the
 * decoder therefore skips an oversized frame's bytes (it never buffers more
 * than MAX_FRAME) and keeps going.
 *
 * The decoder is a pure parser: bytes in, frames and counters out.
 */

/** Ethernet header (14) + the largest IP datagram (65535) + a VLAN tag and FCS, rounded up. */
export const MAX_FRAME = 65536 + 32;
/** Shortest frame that has an Ethernet header. */
export const MIN_FRAME = 14;

export interface FrameDecoderStats {
  /** Frames handed out. */
  frames: number;
  /** Frames longer than MAX_FRAME, skipped. */
  oversized: number;
  /** Frames shorter than an Ethernet header (including length 0), skipped. */
  runts: number;
  /** A frame cut off by the end of the stream. */
  truncated: number;
}

export class FrameDecoder {
  readonly stats: FrameDecoderStats = { frames: 0, oversized: 0, runts: 0, truncated: 0 };
  private readonly hdr = new Uint8Array(4);
  private hdrLen = 0;
  /** Length of the frame being read, -1 while reading a header. */
  private want = -1;
  /** Bytes of an oversized frame still to skip. */
  private skip = 0;
  private readonly buf = new Uint8Array(MAX_FRAME);
  private have = 0;

  /**
   * Feed bytes; `onFrame` gets each complete frame as a view that is valid
   * only during the call (copy it to keep it).
   */
  push(data: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let i = 0;
    const n = data.length;
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        continue;
      }
      if (this.want < 0) {
        // A whole header in one go is the common case.
        if (this.hdrLen === 0 && n - i >= 4) {
          this.start(((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!) >>> 0);
          i += 4;
        } else {
          this.hdr[this.hdrLen++] = data[i++]!;
          if (this.hdrLen === 4) {
            this.hdrLen = 0;
            const h = this.hdr;
            this.start(((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0);
          }
        }
        continue;
      }
      // Frame body: hand out a view of the input when the whole frame is there.
      if (this.have === 0 && n - i >= this.want) {
        const len = this.want;
        this.want = -1;
        this.stats.frames++;
        onFrame(data.subarray(i, i + len));
        i += len;
        continue;
      }
      const k = Math.min(this.want - this.have, n - i);
      this.buf.set(data.subarray(i, i + k), this.have);
      this.have += k;
      i += k;
      if (this.have === this.want) {
        const len = this.want;
        this.want = -1;
        this.have = 0;
        this.stats.frames++;
        onFrame(this.buf.subarray(0, len));
      }
    }
  }

  private start(len: number): void {
    if (len > MAX_FRAME) {
      this.stats.oversized++;
      this.skip = len;
      this.want = -1;
    } else if (len < MIN_FRAME) {
      this.stats.runts++;
      this.skip = len;
      this.want = -1;
    } else {
      this.want = len;
      this.have = 0;
    }
  }

  /** The stream ended: a partial frame is counted as truncated and the decoder starts afresh. */
  end(): void {
    if (this.want >= 0 || this.hdrLen > 0 || this.skip > 0) this.stats.truncated++;
    this.want = -1;
    this.have = 0;
    this.hdrLen = 0;
    this.skip = 0;
  }
}

/** The 4-byte big-endian length prefix for a frame of `len` bytes. */
export function frameHeader(len: number): Uint8Array {
  const h = new Uint8Array(4);
  h[0] = len >>> 24;
  h[1] = (len >>> 16) & 0xff;
  h[2] = (len >>> 8) & 0xff;
  h[3] = len & 0xff;
  return h;
}
