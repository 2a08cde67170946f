// Group `block`: sequential 128 KiB reads and writes (16 in flight) of a
// 64 MiB disk through the block layer (BlockBackend -> qcow2 -> host file),
// against the raw driver on the same data in the same run, and against QEMU
// 7.2's block layer (`qemu-img bench`) on the same image. Figures are MiB per
// CPU second (user + system of the process, so I/O threads count too),
// because the machine is shared; ratios > 1 mean faster than the baseline.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from './harness.js';
import { round } from './harness.js';
import { openBlockBackend } from '../src/block/open.js';

export const group = 'block';

const SIZE = 64 << 20;
const REQ = 128 << 10;
const DEPTH = 16;
const ROUNDS = 5;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** MiB per CPU second of each pass over the whole disk (a second write pass rewrites allocated clusters). */
async function passes(path: string, format: 'raw' | 'qcow2', write: boolean, n: number): Promise<number[]> {
  const d = await openBlockBackend('bench', { file: path, format, readonly: !write, cache: 'writeback', discard: 'ignore', snapshot: false }, { warn: () => {} });
  const bufs = Array.from({ length: DEPTH }, () => new Uint8Array(REQ));
  if (write) for (const b of bufs) randomFillSync(b);
  const out: number[] = [];
  for (let p = 0; p < n; p++) {
    let next = 0;
    const c0 = cpuSeconds();
    const worker = async (b: Uint8Array): Promise<void> => {
      while (next < SIZE) {
        const off = next;
        next += REQ;
        await (write ? d.writev([b], off) : d.readv([b], off));
      }
    };
    await Promise.all(bufs.map(worker));
    if (write) await d.flush();
    out.push(SIZE / (1 << 20) / (cpuSeconds() - c0));
  }
  await d.close();
  return out;
}

async function stream(path: string, format: 'raw' | 'qcow2', write: boolean): Promise<number> {
  return (await passes(path, format, write, 1))[0]!;
}

/** QEMU 7.2's block layer on the same image: qemu-img bench, CPU time of the child from bash's `times`; best of ROUNDS. */
function qemuBench(path: () => string, format: string, write: boolean): number | null {
  let best: number | null = null;
  for (let r = 0; r < ROUNDS; r++) {
    const v = qemuBenchOnce(path(), format, write);
    if (v !== null && (best === null || v > best)) best = v;
  }
  return best;
}

function qemuBenchOnce(path: string, format: string, write: boolean): number | null {
  // qemu-img's start-up and image open cost as much CPU as a fast 64 MiB pass: subtract a 1-request run.
  const full = qemuCpu(path, format, write, SIZE / REQ);
  const startup = qemuCpu(path, format, write, 1);
  if (full === null || startup === null || full <= startup) return null;
  return SIZE / (1 << 20) / (full - startup);
}

function qemuCpu(path: string, format: string, write: boolean, count: number): number | null {
  const args = ['bench', '-q', '-f', format, '-c', String(count), '-d', String(DEPTH), '-s', String(REQ), '-t', 'writeback', '-i', 'threads', ...(write ? ['-w', '--flush-interval=0'] : []), path];
  const cmd = `qemu-img ${args.map((a) => `'${a}'`).join(' ')} >/dev/null && times`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  // `times` prints the shell's then its children's user and system time: "0m0.003s 0m0.001s\n0m1.234s 0m0.456s".
  const lines = r.stdout.trim().split('\n');
  const secs = (lines[lines.length - 1] ?? '').split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return secs.reduce((a, b) => a + b, 0);
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-block-'));
  try {
    const data = new Uint8Array(SIZE);
    randomFillSync(data);
    const raw = join(dir, 'data.raw');
    writeFileSync(raw, data);
    const qcow = join(dir, 'data.qcow2');
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
    // Warm the page cache and the JIT once, then take the best of interleaved rounds (the machine is shared: noise only slows).
    await stream(raw, 'raw', false);
    await stream(qcow, 'qcow2', false);
    let rawRead = 0;
    let qRead = 0;
    for (let r = 0; r < ROUNDS; r++) {
      rawRead = Math.max(rawRead, await stream(raw, 'raw', false));
      qRead = Math.max(qRead, await stream(qcow, 'qcow2', false));
    }
    report({ name: 'block.qcow2_seqread', value: round(qRead, 1), unit: 'MiB/cpu-s', baseline: round(rawRead, 1), ratio: round(qRead / rawRead) });
    report({ name: 'block.qcow2_seqread_ratio', value: round(qRead / rawRead), unit: 'x raw' });
    const qemuRead = qemuBench(() => qcow, 'qcow2', false);
    if (qemuRead !== null) report({ name: 'block.qcow2_seqread_vs_qemu', value: round(qRead, 1), unit: 'MiB/cpu-s', baseline: round(qemuRead, 1), ratio: round(qRead / qemuRead) });

    const fresh = (name: string, format: string): string => {
      const p = join(dir, name);
      execFileSync('qemu-img', ['create', '-q', '-f', format, p, String(SIZE)]);
      return p;
    };
    await stream(fresh('warm.qcow2', 'qcow2'), 'qcow2', true);
    let rawWrite = 0;
    let qWrite = 0;
    for (let r = 0; r < ROUNDS; r++) {
      rawWrite = Math.max(rawWrite, await stream(fresh(`w${r}.raw`, 'raw'), 'raw', true));
      qWrite = Math.max(qWrite, await stream(fresh(`w${r}.qcow2`, 'qcow2'), 'qcow2', true));
    }
    report({ name: 'block.qcow2_seqwrite', value: round(qWrite, 1), unit: 'MiB/cpu-s', baseline: round(rawWrite, 1), ratio: round(qWrite / rawWrite) });
    report({ name: 'block.qcow2_seqwrite_ratio', value: round(qWrite / rawWrite), unit: 'x raw' });
    // Rewriting allocated clusters (no metadata work): the steady state of a disk in use.
    let rawRe = 0;
    let qRe = 0;
    for (let r = 0; r < ROUNDS; r++) {
      rawRe = Math.max(rawRe, (await passes(fresh(`r${r}.raw`, 'raw'), 'raw', true, 2))[1]!);
      qRe = Math.max(qRe, (await passes(fresh(`r${r}.qcow2`, 'qcow2'), 'qcow2', true, 2))[1]!);
    }
    report({ name: 'block.qcow2_rewrite', value: round(qRe, 1), unit: 'MiB/cpu-s', baseline: round(rawRe, 1), ratio: round(qRe / rawRe) });
    let qn = 0;
    const qemuWrite = qemuBench(() => fresh(`qemu-w${qn++}.qcow2`, 'qcow2'), 'qcow2', true);
    if (qemuWrite !== null) report({ name: 'block.qcow2_seqwrite_vs_qemu', value: round(qWrite, 1), unit: 'MiB/cpu-s', baseline: round(qemuWrite, 1), ratio: round(qWrite / qemuWrite) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
