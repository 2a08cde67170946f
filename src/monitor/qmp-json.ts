/**
 * JSON as QEMU's QMP writes it: `{"key": value, "list": [1, 2]}` on one line
 * (a space after ':' and ','), or indented with -qmp-pretty.
 */
export function qmpJson(v: unknown, pretty = false): string {
  if (pretty) return JSON.stringify(v, null, 4);
  return compact(v);
}

function compact(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(compact).join(', ')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    parts.push(`${JSON.stringify(k)}: ${compact(x)}`);
  }
  return `{${parts.join(', ')}}`;
}
