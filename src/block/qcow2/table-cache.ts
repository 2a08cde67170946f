/**
 * The bounded cache of metadata tables (L2 tables, refcount blocks): least
 * recently used out first, except tables with a write in flight ("pinned"):
 * re-reading such a table from the file could miss that write and leave the
 * cache disagreeing with the file. Metadata is written through, so evicting
 * never writes.
 */
export class TableCache {
  private readonly tables = new Map<number, Uint8Array>();
  private readonly pinned = new Map<number, number>();
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
      const n = this.pinned.get(key)! - 1;
      if (n === 0) this.pinned.delete(key);
      else this.pinned.set(key, n);
    }
  }
}
