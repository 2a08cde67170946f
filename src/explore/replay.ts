/**
 * Replay strings: the sequence of task ids chosen at each scheduling step,
 * run-length encoded: "s1:" then "ID" or "IDxCOUNT" items joined by "-",
 * e.g. "s1:0x3-1-0x2", optionally followed by "@" and an 8-hex-digit tag of
 * the scenario and variant it was recorded on (so a replay given to another
 * scenario is refused instead of silently running something else). Task ids
 * are creation order, which is deterministic.
 */
export class ReplayFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayFormatError';
  }
}

/** FNV-1a of "scenario/variant", as 8 hex digits. */
export function scheduleTag(scenario: string, variant: string): string {
  let h = 0x811c9dc5;
  const s = `${scenario}/${variant}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

export interface DecodedSchedule {
  readonly choices: number[];
  readonly tag: string | null;
}

export function encodeSchedule(choices: readonly number[], tag?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < choices.length; ) {
    let j = i;
    while (j < choices.length && choices[j] === choices[i]) j++;
    parts.push(j - i > 1 ? `${choices[i]}x${j - i}` : `${choices[i]}`);
    i = j;
  }
  return 's1:' + parts.join('-') + (tag ? `@${tag}` : '');
}

const MAX_REPLAY_STEPS = 10_000_000;

export function decodeSchedule(s: string): number[] {
  return decodeReplay(s).choices;
}

export function decodeReplay(s: string): DecodedSchedule {
  const m = /^s1:([^@]*)(?:@([0-9a-f]{8}))?$/.exec(s.trim());
  if (!m) throw new ReplayFormatError(`malformed replay string '${s}': expected 's1:' followed by task ids (and optionally @ and an 8-digit tag)`);
  const tag = m[2] ?? null;
  if (m[1] === '') return { choices: [], tag };
  const out: number[] = [];
  for (const item of m[1]!.split('-')) {
    const im = /^(\d{1,4})(?:x(\d{1,8}))?$/.exec(item);
    if (!im) throw new ReplayFormatError(`malformed replay string: bad item '${item}' (expected ID or IDxCOUNT)`);
    const id = Number(im[1]);
    const n = im[2] === undefined ? 1 : Number(im[2]);
    if (n < 1) throw new ReplayFormatError(`malformed replay string: zero count in '${item}'`);
    if (out.length + n > MAX_REPLAY_STEPS) throw new ReplayFormatError('malformed replay string: too many steps');
    for (let k = 0; k < n; k++) out.push(id);
  }
  return { choices: out, tag };
}
