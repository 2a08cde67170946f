/**
 * The web page: the `virt` machine of src/machine/create.ts (the same code
 * as `tsvmm run`) with an xterm.js terminal on its UART, images from the
 * site (`files/NAME`, named in URL parameters) or picked from the user's
 * disk, harts in Web Workers, and the run's controls and figures. Opened
 * with no parameters it boots what `npm start` boots: Debian's M-mode U-Boot.
 *
 * URL parameters: bios, kernel, initrd, dtb, disk (NAME or blank:MiB),
 * append, smp, m (MiB).
 */
import { isolated, missingIsolationHeaders } from './isolation.js';
import { Terminal } from '@xterm/xterm';
import { createMachine, type Machine } from '../machine/create.js';
import { BootError, DEFAULT_FW_DYNAMIC, DEFAULT_UBOOT } from '../machine/virt/virt.js';
import { browserFiles, browserHost, setRealmWorkerUrl } from '../host/browser.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const field = (name: string): HTMLInputElement => form.elements.namedItem(name) as HTMLInputElement;

const term = new Terminal({ scrollback: 5000, fontSize: 14, cols: 100, rows: 30 });
term.open($('terminal'));

setRealmWorkerUrl('hart', new URL('hart-worker.js', location.href).href);

let machine: Machine | null = null;
let running = false;
let generation = 0;
const messages: string[] = [];

function message(text: string, kind: 'error' | 'info' = 'error'): void {
  messages.push(text);
  const d = document.createElement('div');
  d.className = kind;
  d.textContent = text;
  $('messages').append(d);
}

function setState(s: string): void {
  $('state').textContent = s;
}

function progress(text: string, done: number, total: number): void {
  const p = $<HTMLProgressElement>('progress');
  p.hidden = total <= 0;
  p.max = Math.max(total, 1);
  p.value = done;
  $('progress-text').textContent = text;
}

/** Fetch a served file with progress; a clear error for a missing one. */
async function fetchFile(name: string, what: string): Promise<Uint8Array> {
  const url = new URL(`files/${encodeURIComponent(name)}`, location.href);
  const r = await fetch(url);
  if (!r.ok || !r.body) throw new BootError(`${what} '${name}': the site does not serve it (HTTP ${r.status})`);
  const total = Number(r.headers.get('content-length') ?? 0);
  const reader = r.body.getReader();
  const chunks: Uint8Array[] = [];
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    done += value.length;
    progress(`loading ${what} ${name}: ${(done / 1048576).toFixed(1)} MiB`, done, total);
  }
  const out = new Uint8Array(done);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A picked file (wins) or a served name; registered under `as` (default: its name) for the machine's loader. */
async function image(name: string, what: string, as?: string): Promise<string | undefined> {
  const picked = field(`${name}-file`)?.files?.[0];
  const served = field(name).value.trim();
  if (!picked && !served) return undefined;
  const key = as ?? (picked ? picked.name : served);
  const bytes = picked ? new Uint8Array(await picked.arrayBuffer()) : await fetchFile(served, what);
  browserFiles.set(key, bytes);
  return key;
}

/**
 * A gzip initrd is inflated once before boot, bounded by guest RAM as the
 * loader's check is in Node (the page has no synchronous inflate, so the
 * loader checks the header only).
 */
async function checkGzip(bytes: Uint8Array, what: string, max: number): Promise<void> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return;
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) break;
    }
  } catch (e) {
    throw new BootError(`${what}: truncated or corrupt gzip data (${(e as Error).message})`);
  }
  if (total > max) {
    await reader.cancel();
    throw new BootError(`${what}: unpacks to more than ${max} bytes (larger than guest RAM)`);
  }
}

async function diskImage(): Promise<Uint8Array | undefined> {
  const picked = field('disk-file').files?.[0];
  if (picked) return new Uint8Array(await picked.arrayBuffer());
  const v = field('disk').value.trim();
  if (!v) return undefined;
  const blank = /^blank:(\d+)$/.exec(v);
  if (blank) return new Uint8Array(Number(blank[1]) * 1048576);
  return fetchFile(v, 'disk');
}

function buttons(): void {
  $<HTMLButtonElement>('pause').disabled = !running;
  $<HTMLButtonElement>('reset').disabled = !running;
  $<HTMLButtonElement>('poweroff').disabled = !running;
  $<HTMLButtonElement>('download').disabled = !machine?.disk;
  $('pause').textContent = machine?.state === 'paused' ? 'Resume' : 'Pause';
}

async function start(): Promise<void> {
  const gen = ++generation;
  if (machine && running) {
    machine.powerOff(0);
    await new Promise((r) => setTimeout(r, 50));
  }
  machine = null;
  running = false;
  buttons();
  term.reset();
  let smp = Math.max(1, Number(field('smp').value) || 1);
  if (!isolated && smp > 1) {
    message(`Running 1 hart instead of ${smp}: harts in workers need SharedArrayBuffer, which this page does not have (see above).`, 'info');
    smp = 1;
  }
  const memory = (Number(field('m').value) || 256) * 1048576;
  try {
    setState('loading images');
    const kernel = await image('kernel', 'kernel');
    let bios = await image('bios', 'firmware');
    if (!bios) {
      // What `tsvmm run` loads by default, under the same host paths.
      const [name, path] = kernel ? ['fw_dynamic.bin', DEFAULT_FW_DYNAMIC] : ['u-boot.bin', DEFAULT_UBOOT];
      if (!browserFiles.exists(path)) browserFiles.set(path, await fetchFile(name, 'firmware'));
      bios = undefined;
    }
    const initrd = await image('initrd', 'initrd');
    if (initrd) await checkGzip(browserFiles.read(initrd), `initrd '${initrd}'`, memory);
    const dtb = await image('dtb', 'device tree');
    const disk = await diskImage();
    progress('', 0, 0);
    if (gen !== generation) return;
    setState('booting');
    const m = createMachine({
      memory,
      smp,
      bios,
      kernel,
      initrd,
      dtb,
      append: field('append').value || undefined,
      disk,
      host: browserHost,
      onOutput: (b) => {
        if (machine === m && $('state').textContent === 'booting') setState('running');
        term.write(b);
      },
      logger: (line) => message(line),
    });
    machine = m;
    running = true;
    buttons();
    refreshFigures();
    const code = await m.run();
    if (machine === m) {
      running = false;
      setState(`powered off (exit code ${code})`);
      buttons();
    }
  } catch (e) {
    running = false;
    setState('stopped');
    progress('', 0, 0);
    message(e instanceof BootError ? e.message : `tsvmm: ${(e as Error).message ?? String(e)}`);
    buttons();
  }
}

term.onData((d) => machine?.input(d));
$('start').onclick = () => void start();
$('pause').onclick = async () => {
  if (!machine) return;
  if (machine.state === 'paused') await machine.resume();
  else await machine.pause();
  setState(machine.state);
  buttons();
};
$('reset').onclick = () => machine?.reset();
$('poweroff').onclick = () => machine?.powerOff(0);
$('download').onclick = () => {
  const d = machine?.disk;
  if (!d) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([d.bytes.slice()], { type: 'application/octet-stream' }));
  a.download = 'disk.img';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
};

// Figures: instructions per second over the last second, all harts.
let last = { t: performance.now(), n: 0 };
function refreshFigures(): void {
  const m = machine;
  if (!m) return;
  const now = performance.now();
  const n = m.instructions();
  const mips = (n - last.n) / ((now - last.t) * 1000);
  last = { t: now, n };
  $('harts').textContent = `harts: ${m.harts}${m.vm.smpCoordinator ? ' (workers)' : ' (page thread)'}`;
  $('mips').textContent = `MIPS: ${running && m.state === 'running' && mips >= 0 ? mips.toFixed(1) : '–'}`;
  $('insns').textContent = `instructions: ${(n / 1e6).toFixed(1)} M`;
}
setInterval(refreshFigures, 1000);

// The page's state for scripts and tests.
(globalThis as { tsvmm?: unknown }).tsvmm = {
  term,
  get machine() {
    return machine;
  },
  get running() {
    return running;
  },
  messages,
  isolated,
  /** The buffer line the cursor is on (an index into lines()). */
  cursorLine(): number {
    const b = term.buffer.active;
    return b.baseY + b.cursorY;
  },
  /** The terminal's text, one string per line (what a reader sees, scrollback included). */
  lines(): string[] {
    const b = term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
    return out;
  },
};

for (const [k, v] of new URLSearchParams(location.search)) if (form.elements.namedItem(k)) field(k).value = v;
if (!isolated) {
  const missing = await missingIsolationHeaders();
  message(
    `This page is not cross-origin isolated, so SharedArrayBuffer is unavailable: the server did not send ${missing.length ? missing.join(' and ') : 'the isolation headers'}. ` +
      'Harts cannot run in Web Workers; tsvmm runs a single hart on the page thread.',
  );
}
void start();
