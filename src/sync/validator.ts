/**
 * A lock-order validator in the style of Linux lockdep.
 *
 * It validates lock classes, not instances: every acquisition made while other
 * locks are held records a dependency edge "held class -> acquired class"
 * (typed by the modes on both sides), and a new edge that closes a cycle in
 * that graph is reported at once, from a single run, whether or not the
 * deadlock it predicts happened. Same-class nesting needs an annotation
 * (subclass, a held nest lock, or increasing order keys). Context rules catch
 * a lock used from interrupt, timer or bottom-half context that is also taken
 * where that context could preempt its holder.
 *
 * Reader-writer edges carry lockdep's four types: the holder side is E
 * (exclusive: writer or mutex) or S (shared: any reader); the acquiring side is
 * R (recursive reader, blocked only by a held writer) or N (anything else,
 * including a non-recursive reader, which a waiting writer also blocks). A
 * cycle deadlocks only if it is "strong": no edge ending in R is followed by an
 * edge starting in S (a recursive reader waiting on a lock held for reading
 * gets in).
 */
import type { ExecContext, TaskState } from './context.js';

/** How a lock is acquired. Mutexes and the big lock acquire in 'write' mode. */
export type AcquireMode = 'write' | 'read' | 'read-recursive';

/** What the validator needs to know about a lock instance. */
export interface LockIdentity {
  readonly name: string;
  readonly className: string;
  /** Same-class nesting order (e.g. [bus, device, function]); inner locks must have larger keys. */
  readonly orderKey: readonly number[] | null;
}

/** Per-acquisition annotations. */
export interface AcquireOptions {
  /** Where the acquisition happens, for reports (otherwise a short stack is captured when needed). */
  readonly site?: string;
  /** Same-class nesting level: a lock acquired with subclass n is a distinct validation class. */
  readonly subclass?: number;
  /** A lock, held by the caller, that serialises all nesting of this class (lockdep's nest_lock). */
  readonly nestLock?: LockIdentity;
}

export type LockReportKind = 'AA' | 'order' | 'cycle' | 'context' | 'unlock';

export interface LockReportEdge {
  readonly from: string;
  readonly to: string;
  /** Edge type: holder side E|S, acquirer side R|N. */
  readonly type: 'EN' | 'ER' | 'SN' | 'SR';
  /** Where the holder took `from` when the edge was first recorded. */
  readonly heldSite: string;
  /** Where `to` was acquired when the edge was first recorded. */
  readonly site: string;
  readonly task: string;
}

export interface LockReport {
  readonly kind: LockReportKind;
  /** One line. */
  readonly summary: string;
  /** Classes involved, in cycle order for 'cycle'. */
  readonly classes: readonly string[];
  readonly edges: readonly LockReportEdge[];
  /** The acquisition (or unlock) that triggered the report. */
  readonly closing: { readonly lock: string; readonly className: string; readonly mode: AcquireMode; readonly site: string; readonly task: string };
  /** Locks the task held at that moment, outermost first. */
  readonly held: readonly { readonly lock: string; readonly className: string; readonly mode: AcquireMode; readonly site: string }[];
  /** The full multi-line report. */
  readonly text: string;
}

interface Held {
  readonly lock: LockIdentity;
  readonly node: number;
  readonly mode: AcquireMode;
  readonly site: string | undefined;
}

interface Edge {
  types: number;
  /** First recording per type bit: index = log2(bit). */
  readonly first: (LockReportEdge | undefined)[];
}

// Edge type bits.
const EN = 1;
const ER = 2;
const SN = 4;
const SR = 8;
const TYPE_NAMES = ['EN', 'ER', 'SN', 'SR'] as const;
const HOLDER_S = SN | SR;
const ACQ_R = ER | SR;

const CTX_BITS: Readonly<Record<Exclude<ExecContext, 'process'>, number>> = { irq: 1, bh: 2, timer: 4 };
const CTX_LIST = ['irq', 'bh', 'timer'] as const;

interface Usage {
  usedIn: number;
  enabledIn: number;
  reported: number;
  readonly usedSite: string[];
  readonly enabledSite: string[];
}

function edgeType(holder: AcquireMode, acq: AcquireMode): number {
  const s = holder !== 'write';
  const r = acq === 'read-recursive';
  return s ? (r ? SR : SN) : r ? ER : EN;
}

function bitIndex(b: number): number {
  return 31 - Math.clz32(b);
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A short call stack outside src/sync, for reports when no site label was given. */
export function shortStack(): string {
  // A few frames only: with source maps on (tsx), each frame costs microseconds.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 8;
  const raw = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const lines = raw
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/^at /, ''))
    .filter((l) => !/[\\/]src[\\/]sync[\\/]/.test(l) && !l.startsWith('new Promise') && !l.includes('node:internal'));
  return lines.slice(0, 3).join(' < ') || '(unknown site)';
}

export class LockValidator {
  private on: boolean;
  private readonly nodeIds = new Map<string, number>();
  private readonly nodeNames: string[] = [];
  private readonly edges: Map<number, Edge>[] = [];
  private readonly inEdges: number[][] = [];
  /** OR of every class's usedIn bits: the dependency context rule is skipped while no lock was used in c. */
  private anyUsed = 0;
  private readonly usage: Usage[] = [];
  private readonly held = new Map<number, Held[]>();
  private readonly reportedKeys = new Set<string>();
  readonly reports: LockReport[] = [];
  /** Called once per new report (the explorer fails the run; real code logs). */
  onReport: ((r: LockReport) => void) | null = null;

  constructor(enabled = true) {
    this.on = enabled;
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Start validating. Locks already held are unknown to it until released and re-taken. */
  enable(): void {
    this.on = true;
  }

  /** Stop validating and forget what each task holds (the graph is kept). */
  disable(): void {
    this.on = false;
    this.held.clear();
  }

  /** Number of distinct dependency edges recorded (for tests and statistics). */
  get edgeCount(): number {
    let n = 0;
    for (const m of this.edges) for (const e of m.values()) n += popcount(e.types);
    return n;
  }

  /** Locks the task holds, as the validator sees them. */
  heldBy(task: TaskState): readonly string[] {
    return (this.held.get(task.id) ?? []).map((h) => h.lock.name);
  }

  private nodeOf(className: string, subclass: number | undefined): number {
    const key = subclass ? `${className}/${subclass}` : className;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodeNames.length;
      this.nodeIds.set(key, id);
      this.nodeNames.push(key);
      this.edges.push(new Map());
      this.inEdges.push([]);
      this.usage.push({ usedIn: 0, enabledIn: 0, reported: 0, usedSite: [], enabledSite: [] });
    }
    return id;
  }

  private heldList(task: TaskState): Held[] {
    let l = this.held.get(task.id);
    if (!l) {
      l = [];
      this.held.set(task.id, l);
    }
    return l;
  }

  private holds(task: TaskState, lock: LockIdentity): boolean {
    const l = this.held.get(task.id);
    if (!l) return false;
    for (const h of l) if (h.lock === lock) return true;
    return false;
  }

  /**
   * Called before a blocking acquisition may wait: checks same-class rules and
   * records (and checks) the dependency edges from every held lock. Trylocks
   * skip this call: they cannot wait, so they add no incoming edge.
   */
  beforeAcquire(task: TaskState, lock: LockIdentity, mode: AcquireMode, opts?: AcquireOptions): void {
    if (!this.on) return;
    const list = this.held.get(task.id);
    if (!list || list.length === 0) return;
    const node = this.nodeOf(lock.className, opts?.subclass);
    // No closure here: tsx's keepNames wraps every function expression, which
    // would cost microseconds per acquisition.
    let siteStr: string | undefined = opts?.site;

    for (const h of list) {
      if (h.node !== node) continue;
      if (h.lock === lock) {
        if (mode === 'read-recursive' && h.mode !== 'write') continue;
        this.reportSameClass('AA', task, lock, mode, (siteStr ??= shortStack()), h, `recursive acquisition of ${lock.name} (${describeMode(mode)}) while it is held (${describeMode(h.mode)}): self-deadlock`);
        return;
      }
      if (opts?.nestLock && this.holds(task, opts.nestLock)) continue;
      if (mode === 'read-recursive' && h.mode !== 'write') continue;
      if (lock.orderKey && h.lock.orderKey) {
        if (compareKeys(lock.orderKey, h.lock.orderKey) > 0) continue;
        this.reportSameClass('order', task, lock, mode, (siteStr ??= shortStack()), h, `${lock.name} [${lock.orderKey.join(':')}] acquired while holding ${h.lock.name} [${h.lock.orderKey.join(':')}] of the same class: order keys must increase`);
        return;
      }
      this.reportSameClass('AA', task, lock, mode, (siteStr ??= shortStack()), h, `possible recursive locking: ${lock.name} acquired while holding ${h.lock.name} of the same class ${this.nodeNames[node]} without a subclass, nest lock or order key`);
      return;
    }

    for (const h of list) {
      if (h.node === node) continue;
      const t = edgeType(h.mode, mode);
      const out = this.edges[h.node]!;
      let e = out.get(node);
      if (e && e.types & t) continue;
      const fresh = !e;
      if (!e) {
        e = { types: 0, first: [undefined, undefined, undefined, undefined] };
        out.set(node, e);
        this.inEdges[node]!.push(h.node);
      }
      e.types |= t;
      const rec: LockReportEdge = {
        from: this.nodeNames[h.node]!,
        to: this.nodeNames[node]!,
        type: TYPE_NAMES[bitIndex(t)]!,
        heldSite: h.site ?? `(${h.lock.name}: no site label)`,
        site: (siteStr ??= shortStack()),
        task: task.name,
      };
      e.first[bitIndex(t)] = rec;
      const cycle = this.findCycle(h.node, node, t);
      if (cycle) this.reportCycle(task, lock, mode, siteStr, cycle, rec);
      if (fresh) for (const c of CTX_LIST) this.checkDependencyContext(task, lock, mode, siteStr, c, h.node, node);
    }
  }

  /**
   * Lockdep's "safe -> unsafe" rule: if a lock used in context c (c-safe, its
   * holder runs with c masked or is c itself) can be held while waiting for a
   * lock that is taken elsewhere with c enabled (c-unsafe), then c can
   * interrupt that other holder and wait for the first lock: a deadlock across
   * two CPUs. Checked along dependency paths, when an edge or a usage bit is new.
   */
  private checkDependencyContext(task: TaskState, lock: LockIdentity, mode: AcquireMode, site: string, c: (typeof CTX_LIST)[number], from: number, to: number): void {
    const b = CTX_BITS[c];
    if (!(this.anyUsed & b)) return;
    const safe = this.reach(from, b, 'usedIn', this.inEdgeList);
    if (safe === null) return;
    const unsafe = this.reach(to, b, 'enabledIn', this.outEdgeList);
    if (unsafe === null) return;
    this.reportSafeUnsafe(task, lock, mode, site, c, safe, unsafe);
  }

  private readonly inEdgeList = (n: number): Iterable<number> => this.inEdges[n]!;
  private readonly outEdgeList = (n: number): Iterable<number> => this.edges[n]!.keys();

  /** The first node reachable from `start` (inclusive) through `next` whose usage has bit b in `field`. */
  private reach(start: number, b: number, field: 'usedIn' | 'enabledIn', next: (n: number) => Iterable<number>): number | null {
    const seen = new Set<number>([start]);
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i]!;
      if (this.usage[n]![field] & b) return n;
      for (const m of next(n)) {
        if (seen.has(m)) continue;
        seen.add(m);
        queue.push(m);
      }
    }
    return null;
  }

  private reportSafeUnsafe(task: TaskState, lock: LockIdentity, mode: AcquireMode, site: string, c: string, safe: number, unsafe: number): void {
    const key = `dep:${c}:${safe}:${unsafe}`;
    if (this.reportedKeys.has(key)) return;
    this.reportedKeys.add(key);
    const b = CTX_BITS[c as (typeof CTX_LIST)[number]];
    const held = this.heldSnapshot(task);
    const s = this.nodeNames[safe]!;
    const u = this.nodeNames[unsafe]!;
    const summary = `${c}-safe -> ${c}-unsafe lock order: ${s} (used in ${c} context) can be held while waiting for ${u} (taken with ${c} enabled)`;
    this.emit({
      kind: 'context',
      summary,
      classes: [s, u],
      edges: [],
      closing: { lock: lock.name, className: lock.className, mode, site, task: task.name },
      held,
      text: [
        `lockdep: ${summary}`,
        `  ${s} used in ${c} context at ${this.usage[safe]!.usedSite[b]}`,
        `  ${u} taken with ${c} enabled at ${this.usage[unsafe]!.enabledSite[b]}`,
        `  dependency completed by ${task.name} acquiring ${lock.name} at ${site}`,
        ...heldLines(held),
      ].join('\n'),
    });
  }

  /** Record a successful acquisition (blocking or trylock). */
  acquired(task: TaskState, lock: LockIdentity, mode: AcquireMode, opts?: AcquireOptions): void {
    if (!this.on) return;
    const node = this.nodeOf(lock.className, opts?.subclass);
    const site = opts?.site ?? (task.label ? `${task.name} after sync point '${task.label}'` : undefined);
    this.heldList(task).push({ lock, node, mode, site });
    this.checkContext(task, lock, mode, node, opts?.site);
  }

  /** Record a release. Returns false when the validator did not know the lock as held. */
  released(task: TaskState, lock: LockIdentity): boolean {
    if (!this.on) return true;
    const l = this.held.get(task.id);
    if (!l) return false;
    const last = l.length - 1;
    if (last >= 0 && l[last]!.lock === lock) {
      l.pop();
      return true;
    }
    for (let i = last - 1; i >= 0; i--) {
      if (l[i]!.lock === lock) {
        l.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Report a bad unlock (the lock also throws LockUsageError). */
  badUnlock(task: TaskState, lock: LockIdentity, what: string, site?: string): void {
    if (!this.on) return;
    const s = site ?? shortStack();
    const held = this.heldSnapshot(task);
    const summary = `${what}: ${lock.name} by ${task.name}`;
    this.emit({
      kind: 'unlock',
      summary,
      classes: [lock.className],
      edges: [],
      closing: { lock: lock.name, className: lock.className, mode: 'write', site: s, task: task.name },
      held,
      text: [`lockdep: ${summary}`, `  at ${s}`, ...heldLines(held)].join('\n'),
    });
  }

  // BFS over (node, last edge acquired as recursive reader) looking for a
  // strong path target -> ... -> source that the new edge source -(t)-> target closes.
  private findCycle(source: number, target: number, t: number): { nodes: number[]; types: number[] } | null {
    const n = this.nodeNames.length;
    const prev = new Int32Array(2 * n).fill(-1);
    const prevType = new Int32Array(2 * n);
    const seen = new Uint8Array(2 * n);
    const start = target * 2 + (t & ACQ_R ? 1 : 0);
    seen[start] = 1;
    const queue = [start];
    for (let qi = 0; qi < queue.length; qi++) {
      const st = queue[qi]!;
      const u = st >> 1;
      const lastR = (st & 1) === 1;
      if (u === source && !(lastR && t & HOLDER_S)) {
        const nodes: number[] = [];
        const types: number[] = [];
        for (let s = st; s !== start; s = prev[s]!) {
          nodes.push(s >> 1);
          types.push(prevType[s]!);
        }
        nodes.push(target);
        nodes.reverse();
        types.reverse();
        return { nodes, types };
      }
      for (const [v, e] of this.edges[u]!) {
        for (let b = 1; b <= SR; b <<= 1) {
          if (!(e.types & b)) continue;
          if (lastR && b & HOLDER_S) continue;
          const ns = v * 2 + (b & ACQ_R ? 1 : 0);
          if (seen[ns]) continue;
          seen[ns] = 1;
          prev[ns] = st;
          prevType[ns] = b;
          queue.push(ns);
        }
      }
    }
    return null;
  }

  private heldSnapshot(task: TaskState): LockReport['held'] {
    return (this.held.get(task.id) ?? []).map((h) => ({
      lock: h.lock.name,
      className: h.lock.className,
      mode: h.mode,
      site: h.site ?? '(no site label)',
    }));
  }

  private reportSameClass(kind: 'AA' | 'order', task: TaskState, lock: LockIdentity, mode: AcquireMode, site: string, h: Held, why: string): void {
    const key = `${kind}:${h.node}:${h.lock === lock ? 'self' : 'class'}:${mode}`;
    if (this.reportedKeys.has(key)) return;
    this.reportedKeys.add(key);
    const held = this.heldSnapshot(task);
    const summary = `${kind === 'AA' ? 'AA deadlock' : 'same-class order violation'}: ${why}`;
    this.emit({
      kind,
      summary,
      classes: [lock.className],
      edges: [],
      closing: { lock: lock.name, className: lock.className, mode, site, task: task.name },
      held,
      text: [
        `lockdep: ${summary}`,
        `  ${task.name} acquires ${lock.name} (${describeMode(mode)}) at ${site}`,
        `  first holding ${h.lock.name} (${describeMode(h.mode)}) taken at ${h.site ?? '(no site label)'}`,
        ...heldLines(held),
      ].join('\n'),
    });
  }

  private reportCycle(task: TaskState, lock: LockIdentity, mode: AcquireMode, site: string, cyc: { nodes: number[]; types: number[] }, closingEdge: LockReportEdge): void {
    // The cycle is closingEdge.from -> nodes[0] (= target) -> ... -> nodes[last] (= from).
    const ring = [this.nodeIds.get(closingEdge.from)!, ...cyc.nodes.slice(0, -1)];
    const min = Math.min(...ring);
    const at = ring.indexOf(min);
    const key = 'cycle:' + [...ring.slice(at), ...ring.slice(0, at)].join(',');
    if (this.reportedKeys.has(key)) return;
    this.reportedKeys.add(key);
    const edges: LockReportEdge[] = [];
    for (let i = 0; i + 1 < cyc.nodes.length; i++) {
      const e = this.edges[cyc.nodes[i]!]!.get(cyc.nodes[i + 1]!)!;
      edges.push(e.first[bitIndex(cyc.types[i]!)]!);
    }
    edges.push(closingEdge);
    const classes = [closingEdge.from, ...cyc.nodes.map((x) => this.nodeNames[x]!)];
    const held = this.heldSnapshot(task);
    const name = classes.length === 3 ? 'ABBA' : `${classes.length - 1}-cycle`;
    const summary = `possible deadlock (${name}): ${classes.join(' -> ')}`;
    const lines = [`lockdep: ${summary}`, '  dependency chain (each edge where first recorded):'];
    for (const e of edges) lines.push(`    ${e.from} -> ${e.to} [${e.type}] by ${e.task}: held since ${e.heldSite}; acquired at ${e.site}`);
    lines.push(`  closed by ${task.name} acquiring ${lock.name} (${describeMode(mode)}) at ${site}`);
    lines.push(...heldLines(held));
    this.emit({
      kind: 'cycle',
      summary,
      classes,
      edges,
      closing: { lock: lock.name, className: lock.className, mode, site, task: task.name },
      held,
      text: lines.join('\n'),
    });
  }

  private checkContext(task: TaskState, lock: LockIdentity, mode: AcquireMode, node: number, site: string | undefined): void {
    const u = this.usage[node]!;
    const ctx = task.context;
    // Fast path: nothing new to learn about this class's usage (CTX_BITS match MASK_*).
    const pm = task.preemptMask();
    const ub = ctx === 'process' ? 0 : CTX_BITS[ctx];
    if ((u.enabledIn & pm) === pm && (u.usedIn & ub) === ub) return;
    let newUsed = 0;
    let newEnabled = 0;
    if (ctx !== 'process') {
      const b = CTX_BITS[ctx];
      if (!(u.usedIn & b)) {
        u.usedIn |= b;
        u.usedSite[b] = site ?? shortStack();
        newUsed = b;
        this.anyUsed |= b;
      }
    }
    for (const c of CTX_LIST) {
      const b = CTX_BITS[c];
      if (u.enabledIn & b) continue;
      if (task.preemptibleBy(c)) {
        u.enabledIn |= b;
        u.enabledSite[b] = `${site ?? shortStack()} (${task.name} in ${ctx} context, ${c} enabled)`;
        newEnabled |= b;
      }
    }
    if (newUsed | newEnabled) {
      const s = site ?? '(no site label)';
      for (const c of CTX_LIST) {
        const b = CTX_BITS[c];
        if (newUsed & b) {
          const unsafe = this.reach(node, b, 'enabledIn', this.outEdgeList);
          if (unsafe !== null && unsafe !== node) this.reportSafeUnsafe(task, lock, mode, s, c, node, unsafe);
        }
        if (newEnabled & b && this.anyUsed & b) {
          const safe = this.reach(node, b, 'usedIn', this.inEdgeList);
          if (safe !== null && safe !== node) this.reportSafeUnsafe(task, lock, mode, s, c, safe, node);
        }
      }
    }
    const bad = u.usedIn & u.enabledIn & ~u.reported;
    if (!bad) return;
    for (const c of CTX_LIST) {
      const b = CTX_BITS[c];
      if (!(bad & b)) continue;
      u.reported |= b;
      const held = this.heldSnapshot(task);
      const summary = `inconsistent context usage: ${this.nodeNames[node]} is taken in ${c} context and also with ${c} enabled, where ${c} can preempt its holder`;
      this.emit({
        kind: 'context',
        summary,
        classes: [lock.className],
        edges: [],
        closing: { lock: lock.name, className: lock.className, mode, site: site ?? shortStack(), task: task.name },
        held,
        text: [
          `lockdep: ${summary}`,
          `  used in ${c} context at ${u.usedSite[b]}`,
          `  taken with ${c} enabled at ${u.enabledSite[b]}`,
          ...heldLines(held),
        ].join('\n'),
      });
    }
  }

  private emit(r: LockReport): void {
    this.reports.push(r);
    this.onReport?.(r);
  }
}

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

function describeMode(m: AcquireMode): string {
  return m === 'write' ? 'exclusive' : m === 'read' ? 'read' : 'recursive read';
}

function heldLines(held: LockReport['held']): string[] {
  if (held.length === 0) return ['  locks held: none'];
  return ['  locks held:', ...held.map((h) => `    ${h.lock} (${h.className}, ${describeMode(h.mode)}) at ${h.site}`)];
}
