/**
 * The web page under a real browser: the site built and served by
 * `scripts/web.mjs` (as `npm run web` does), Debian's chromium driven
 * headless by puppeteer-core, and helpers that type into the page's terminal
 * and read its buffer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';

export interface Site {
  url: string;
  proc: ChildProcess;
}

/** Start scripts/web.mjs with `args`; resolves with the URL it serves. */
export function serveSite(args: string[]): Promise<Site> {
  const proc = spawn(process.execPath, [`${ROOT}scripts/web.mjs`, '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ url: m[1]!, proc });
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    proc.on('exit', (code) => reject(new Error(`web.mjs exited (${code}): ${err}${out}`)));
  });
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Containers run as root without user namespaces for chromium's sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    protocolTimeout: 600_000,
  });
}

/** What the page exposes as globalThis.tsvmm (src/web/page.ts). */
interface PageApi {
  lines(): string[];
  cursorLine(): number;
  messages: string[];
  running: boolean;
  isolated: boolean;
}

export function pageText(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as unknown as { tsvmm: PageApi }).tsvmm.lines().join('\n'));
}

/** The terminal line the cursor is on: text typed now appears from there on. */
export function cursorLine(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as unknown as { tsvmm: PageApi }).tsvmm.cursorLine());
}

export function pageMessages(page: Page): Promise<string[]> {
  return page.evaluate(() => [...(globalThis as unknown as { tsvmm: PageApi }).tsvmm.messages]);
}

export async function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? '');
}

/** Poll until fn returns a value (not undefined); fails with `what` and the terminal's tail after timeoutMs. */
export async function until<T>(page: Page, what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) {
      const tail = (await pageText(page).catch(() => '')).split('\n').filter(Boolean).slice(-15).join('\n');
      const msgs = await pageMessages(page).catch(() => []);
      throw new Error(`timed out waiting for ${what}\nmessages: ${JSON.stringify(msgs)}\nterminal:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Wait for `re` in the terminal's text after offset `from` (a line count); returns the text from there. */
export function expectText(page: Page, re: RegExp, timeoutMs: number, from = 0): Promise<string> {
  return until(
    page,
    String(re),
    async () => {
      const t = (await pageText(page)).split('\n').slice(from).join('\n');
      return re.test(t) ? t : undefined;
    },
    timeoutMs,
  );
}

/** Type into the terminal as a user does (keyboard events on xterm's input element). */
export async function typeLine(page: Page, text: string): Promise<void> {
  await page.focus('.xterm-helper-textarea');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** A shell command typed in the terminal; its output up to a marker the shell computes (see test/linux/guest.ts). */
export async function shellRun(page: Page, k: number, cmd: string, timeoutMs: number): Promise<string> {
  const from = await cursorLine(page);
  const tail = `echo @@$((${k}+1000))@@`;
  await typeLine(page, `${cmd}; ${tail}`);
  const marker = `@@${k + 1000}@@`;
  const text = await until(
    page,
    marker,
    async () => {
      const t = (await pageText(page)).split('\n').slice(from).join('\n');
      // The typed line holds $((k+1000)), never the computed marker.
      return t.includes(marker) ? t : undefined;
    },
    timeoutMs,
  );
  const echoed = text.lastIndexOf(tail);
  const start = echoed >= 0 ? text.indexOf('\n', echoed) + 1 : 0;
  return text.slice(start, text.lastIndexOf(marker));
}
