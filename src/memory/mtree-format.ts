/**
 * `info mtree` and `info mtree -f` in QEMU 7.2's exact format, for any set of
 * address spaces (the virt machine passes its own).
 *
 * Tree mode: address spaces sharing a root are printed together (names in
 * byte order, one `address-space:` line each), then the region tree with each
 * level's subregions sorted by address (higher priority first at equal
 * addresses); regions reached only through aliases follow as `memory-region:`
 * sections. Disabled regions are not printed, but their enabled subregions are,
 * as in QEMU. Flat mode: one `FlatView #n` per distinct view, listing the
 * address spaces that share it. Groups and views appear in the order of their
 * first address space in `spaces` (QEMU's order comes from a hash table).
 */
import type { AddressSpace } from './address-space.js';
import type { MemoryRegion } from './region.js';

const INDENT = '  ';
const U64 = (1n << 64n) - 1n;

function hex(v: bigint): string {
  return (v & U64).toString(16).padStart(16, '0');
}

/** QEMU's MR_SIZE: size - 1 (the last offset). */
function last(size: number): bigint {
  return BigInt(size) - 1n;
}

function printRegion(out: string[], mr: MemoryRegion, level: number, base: bigint, aliasQueue: MemoryRegion[]): void {
  const curStart = base + BigInt(mr.addr);
  const curEnd = curStart + last(mr.size);
  let line = '';
  if (curStart > U64 || curEnd > U64) line += '[DETECTED OVERFLOW!] ';
  const disabled = mr.enabled ? '' : ' [disabled]';
  if (mr.alias) {
    if (!aliasQueue.includes(mr.alias)) aliasQueue.push(mr.alias);
    if (mr.enabled) {
      const ao = BigInt(mr.aliasOffset);
      out.push(
        INDENT.repeat(level) +
          line +
          `${hex(curStart)}-${hex(curEnd)} (prio ${mr.priority}, ${mr.typeName()}): alias ${mr.name} @${mr.alias.name} ` +
          `${hex(ao)}-${hex(ao + last(mr.size))}${disabled}`,
      );
    }
  } else if (mr.enabled) {
    out.push(INDENT.repeat(level) + line + `${hex(curStart)}-${hex(curEnd)} (prio ${mr.priority}, ${mr.typeName()}): ${mr.name}${disabled}`);
  }
  // QEMU's print queue: by address, higher priority first at equal addresses,
  // otherwise the subregion list order.
  const queue: MemoryRegion[] = [];
  for (const sub of mr.subregions) {
    const at = queue.findIndex((q) => sub.addr < q.addr || (sub.addr === q.addr && sub.priority > q.priority));
    if (at < 0) queue.push(sub);
    else queue.splice(at, 0, sub);
  }
  for (const sub of queue) printRegion(out, sub, level + 1, curStart, aliasQueue);
}

function formatTree(spaces: readonly AddressSpace[]): string {
  const out: string[] = [];
  const groups = new Map<MemoryRegion, AddressSpace[]>();
  for (const as of spaces) {
    const g = groups.get(as.root);
    if (g) g.push(as);
    else groups.set(as.root, [as]);
  }
  const aliasQueue: MemoryRegion[] = [];
  for (const [root, group] of groups) {
    const names = group.map((a) => a.name).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of names) out.push(`address-space: ${n}`);
    printRegion(out, root, 1, 0n, aliasQueue);
    out.push('');
  }
  for (let i = 0; i < aliasQueue.length; i++) {
    const mr = aliasQueue[i]!;
    out.push(`memory-region: ${mr.name}`);
    printRegion(out, mr, 1, 0n, aliasQueue);
    out.push('');
  }
  return out.join('\n') + '\n';
}

function formatFlat(spaces: readonly AddressSpace[]): string {
  const out: string[] = [];
  const views = new Map<ReturnType<AddressSpace['flatView']>, AddressSpace[]>();
  for (const as of spaces) {
    const v = as.flatView();
    const g = views.get(v);
    if (g) g.push(as);
    else views.set(v, [as]);
  }
  let n = 0;
  for (const [view, group] of views) {
    out.push(`FlatView #${n++}`);
    for (const as of group) {
      out.push(` AS "${as.name}", root: ${as.root.name}` + (as.root.alias ? `, alias ${as.root.alias.name}` : ''));
    }
    out.push(` Root memory region: ${view.root ? view.root.name : '(none)'}`);
    if (view.ranges.length === 0) {
      out.push(`${INDENT}No rendered FlatView`, '');
      continue;
    }
    for (const fr of view.ranges) {
      const start = BigInt(fr.start);
      const type = fr.readonly ? 'rom' : fr.mr.typeName();
      let line = `${INDENT}${hex(start)}-${hex(start + last(fr.size))} (prio ${fr.mr.priority}, ${type}): ${fr.mr.name}`;
      if (fr.offsetInRegion !== 0) line += ` @${hex(BigInt(fr.offsetInRegion))}`;
      out.push(line);
    }
    out.push('');
  }
  return out.join('\n') + '\n';
}

/** The text QEMU's monitor prints for `info mtree` (flat = false) or `info mtree -f`. */
export function formatMtree(spaces: readonly AddressSpace[], opts: { flat?: boolean } = {}): string {
  return opts.flat ? formatFlat(spaces) : formatTree(spaces);
}
