/** A minimal 9P2000.L client for tests: builds T-messages, decodes the R-messages the tests look at. */
import { P9Server } from '../../src/fs/p9-server.js';
import * as W from '../../src/fs/p9-wire.js';

export interface Reply {
  type: number;
  tag: number;
  body: DataView;
  bytes: Uint8Array;
}

export class TestClient {
  private tag = 1;
  constructor(readonly server: P9Server) {}

  raw(msg: Uint8Array, room = 1 << 20): Reply {
    const r = this.server.handle(msg, room);
    if (!r) throw new Error('no reply');
    const bytes = r.slice();
    const dv = new DataView(bytes.buffer);
    if (dv.getUint32(0, true) !== bytes.length) throw new Error('reply size field disagrees with its length');
    return { type: bytes[4]!, tag: dv.getUint16(5, true), body: new DataView(bytes.buffer, 7), bytes };
  }

  t(type: number, fill: (b: W.TBuilder) => W.TBuilder): Reply {
    return this.raw(fill(new W.TBuilder(type, this.tag++ & 0x7fff)).build());
  }

  /** The errno of an Rlerror, or 0 for any other reply. */
  static errno(r: Reply): number {
    return r.type === W.P9_RLERROR ? r.body.getUint32(0, true) : 0;
  }

  ok(r: Reply): Reply {
    if (r.type === W.P9_RLERROR) throw new Error(`Rlerror ${r.body.getUint32(0, true)}`);
    return r;
  }

  version(msize = 65536): Reply {
    return this.ok(this.t(W.P9_TVERSION, (b) => b.u32(msize).str('9P2000.L')));
  }
  attach(fid: number, uid = 0): Reply {
    return this.t(W.P9_TATTACH, (b) => b.u32(fid).u32(W.P9_NOFID).str('root').str('').u32(uid));
  }
  walk(fid: number, newfid: number, names: string[]): Reply {
    return this.t(W.P9_TWALK, (b) => {
      b.u32(fid).u32(newfid).u16(names.length);
      for (const n of names) b.str(n);
      return b;
    });
  }
  lopen(fid: number, flags: number): Reply {
    return this.t(W.P9_TLOPEN, (b) => b.u32(fid).u32(flags));
  }
  lcreate(fid: number, name: string, flags: number, mode = 0o644): Reply {
    return this.t(W.P9_TLCREATE, (b) => b.u32(fid).str(name).u32(flags).u32(mode).u32(0));
  }
  read(fid: number, offset: number, count: number): Uint8Array {
    const r = this.ok(this.t(W.P9_TREAD, (b) => b.u32(fid).u64(offset).u32(count)));
    const n = r.body.getUint32(0, true);
    return r.bytes.slice(11, 11 + n);
  }
  write(fid: number, offset: number, data: Uint8Array): Reply {
    return this.t(W.P9_TWRITE, (b) => b.u32(fid).u64(offset).u32(data.length).bytes(data));
  }
  clunk(fid: number): Reply {
    return this.t(W.P9_TCLUNK, (b) => b.u32(fid));
  }
  mkdir(dfid: number, name: string, mode = 0o755): Reply {
    return this.t(W.P9_TMKDIR, (b) => b.u32(dfid).str(name).u32(mode).u32(0));
  }
  symlink(dfid: number, name: string, target: string): Reply {
    return this.t(W.P9_TSYMLINK, (b) => b.u32(dfid).str(name).str(target).u32(0));
  }
  renameat(od: number, on: string, nd: number, nn: string): Reply {
    return this.t(W.P9_TRENAMEAT, (b) => b.u32(od).str(on).u32(nd).str(nn));
  }
  unlinkat(d: number, name: string, flags = 0): Reply {
    return this.t(W.P9_TUNLINKAT, (b) => b.u32(d).str(name).u32(flags));
  }
  readlink(fid: number): string {
    const r = this.ok(this.t(W.P9_TREADLINK, (b) => b.u32(fid)));
    const n = r.body.getUint16(0, true);
    return new TextDecoder().decode(r.bytes.subarray(9, 9 + n));
  }
  /** mode, uid, gid, size of a getattr. */
  getattr(fid: number): { mode: number; uid: number; gid: number; size: number } {
    const r = this.ok(this.t(W.P9_TGETATTR, (b) => b.u32(fid).u64(0x7ff)));
    const d = r.body;
    return { mode: d.getUint32(21, true), uid: d.getUint32(25, true), gid: d.getUint32(29, true), size: Number(d.getBigUint64(49, true)) };
  }
  readdirNames(fid: number): string[] {
    const names: string[] = [];
    let offset = 0;
    for (;;) {
      const r = this.ok(this.t(W.P9_TREADDIR, (b) => b.u32(fid).u64(offset).u32(8192)));
      const n = r.body.getUint32(0, true);
      if (n === 0) return names;
      let p = 11;
      const dv = new DataView(r.bytes.buffer);
      while (p < 11 + n) {
        offset = Number(dv.getBigUint64(p + 13, true));
        const len = dv.getUint16(p + 22, true);
        names.push(new TextDecoder().decode(r.bytes.subarray(p + 24, p + 24 + len)));
        p += 24 + len;
      }
    }
  }
}
