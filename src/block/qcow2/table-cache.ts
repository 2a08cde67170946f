/**
 * The bounded cache of metadata tables (L2 tables, refcount blocks): least
 * recently used out first, except tables with a write in flight ("pinned"):
 * re-reading such a table from the file could miss that write and leave the
 * cache disagreeing with the file. Metadata is written through, so evicting
 * never writes.
 */
/** Byte range of a table waiting to be written behind the write in flight. */
interface Queued {
  lo: number;
  hi: number;
  done: Promise<void>;
}

export class TableCache {
  private readonly tables = new Map<number, Uint8Array>();
  private readonly pinned = new Map<number, number>();
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly queued = new Map<number, Queued>();
  private last = -1;

  constructor(private readonly capacity: number) {}

  get(key: number): Uint8Array | undefined {
    const t = this.tables.get(key);
    if (t && key !== this.last) {
      // Map iteration order is insertion order: re-inserting keeps it LRU.
      this.tables.delete(key);
      this.tables.set(key, t);
      this.last = key;
    }
    return t;
  }

  set(key: number, t: Uint8Array): void {
    if (this.tables.size >= this.capacity && !this.tables.has(key)) {
      for (const k of this.tables.keys()) {
        if (this.pinned.has(k)) continue;
        this.tables.delete(k);
        break;
      }
    }
    this.tables.set(key, t);
  }

  /** Run `write` (a write of part of table `key`) with the table kept in the cache until it lands. */
  async writing<T>(key: number, write: () => Promise<T>): Promise<T> {
    this.pinned.set(key, (this.pinned.get(key) ?? 0) + 1);
    try {
      return await write();
    } finally {
      this.unpin(key);
    }
  }

  /**
   * Write bytes [lo, hi) of table `key` with `write(lo, hi)`, which reads the
   * table's current bytes. While a write of the same table is in flight,
   * later ranges merge into one queued write that starts when it lands: the
   * concurrent allocating writes of a sequential stream update neighbouring
   * entries of one L2 table, and this turns their N small writes into about
   * two. Every caller's entries were set in the table before it called, and a
   * caller's promise resolves only once a write that started after its call
   * has landed, so "data before the entry that points at it" still holds.
   */
  writeCoalesced(key: number, lo: number, hi: number, write: (lo: number, hi: number) => Promise<void>): Promise<void> {
    const q = this.queued.get(key);
    if (q) {
      q.lo = Math.min(q.lo, lo);
      q.hi = Math.max(q.hi, hi);
      return q.done;
    }
    const prev = this.inFlight.get(key);
    if (!prev) return this.startWrite(key, () => write(lo, hi));
    const entry: Queued = { lo, hi, done: Promise.resolve() };
    // Pinned while queued too: the range is re-read from this very table object when the write starts.
    this.pinned.set(key, (this.pinned.get(key) ?? 0) + 1);
    entry.done = prev
      .catch(() => undefined)
      .then(() => {
        this.queued.delete(key);
        this.unpin(key);
        return this.startWrite(key, () => write(entry.lo, entry.hi));
      });
    this.queued.set(key, entry);
    return entry.done;
  }

  private startWrite(key: number, write: () => Promise<void>): Promise<void> {
    const p = this.writing(key, write);
    this.inFlight.set(key, p);
    const clear = (): void => {
      if (this.inFlight.get(key) === p) this.inFlight.delete(key);
    };
    p.then(clear, clear);
    return p;
  }

  private unpin(key: number): void {
    const n = this.pinned.get(key)! - 1;
    if (n === 0) this.pinned.delete(key);
    else this.pinned.set(key, n);
  }
}
