/**
 * Replay strings: the sequence of task ids chosen at each scheduling step,
 * run-length encoded: "s1:" then "ID" or "IDxCOUNT" items joined by "-",
 * e.g. "s1:0x3-1-0x2". Task ids are creation order, which is deterministic.
 */
export class ReplayFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayFormatError';
  }
}

export function encodeSchedule(choices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < choices.length; ) {
    let j = i;
    while (j < choices.length && choices[j] === choices[i]) j++;
    parts.push(j - i > 1 ? `${choices[i]}x${j - i}` : `${choices[i]}`);
    i = j;
  }
  return 's1:' + parts.join('-');
}

const MAX_REPLAY_STEPS = 10_000_000;

export function decodeSchedule(s: string): number[] {
  const m = /^s1:(.*)$/.exec(s.trim());
  if (!m) throw new ReplayFormatError(`malformed replay string '${s}': expected 's1:' followed by task ids`);
  if (m[1] === '') return [];
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
  return out;
}
