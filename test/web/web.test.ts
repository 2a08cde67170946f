/**
 * tsvmm in a real browser (Debian's chromium, headless, driven by
 * puppeteer-core) on the site `npm run web` builds and serves:
 * - with no parameters the page boots Debian's M-mode U-Boot to its prompt;
 *   `version` typed in the terminal is answered in the terminal's buffer;
 *   a firmware picked from the disk boots when Start is pressed;
 * - bad input: a page without cross-origin isolation names the missing
 *   headers and falls back to one hart; a file that is not an image and a
 *   file the site does not serve are one clear message each; hart workers
 *   that die are one message and the end of the run, not a frozen tab;
 * - one Linux boot with -smp 2 (harts in Web Workers) to a shell serves
 *   every Linux check: /proc/cpuinfo lists two harts, a virtio-blk disk the
 *   guest writes downloads with those bytes, and the page with the shell is
 *   saved as artifacts/web-linux-shell.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { ensureGuest, READY } from '../linux/guest.js';
import { cursorLine, expectText, launchBrowser, pageMessages, serveSite, shellRun, textOf, typeLine, until, type Site } from './browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOOT_MS = 900_000;

let browser: Browser;
let site: Site;
let plain: Site;
let broken: Site;
const tmp = mkdtempSync(join(tmpdir(), 'tsvmm-web-'));

before(async () => {
  ensureGuest();
  const files = join(tmp, 'files');
  mkdirSync(files);
  // Not what they claim: an ELF header cut short, and a text file as firmware-sized "kernel".
  writeFileSync(join(files, 'cut.elf'), readFileSync(join(ROOT, 'guests/linux/vmlinux')).subarray(0, 4096));
  const site0 = await serveSite(['--out', join(tmp, 'site'), '--files', files]);
  site = site0;
  plain = await serveSite(['--out', join(tmp, 'site'), '--no-build', '--no-isolation']);
  // A site whose hart worker cannot load: the worker dies before it runs.
  cpSync(join(tmp, 'site'), join(tmp, 'broken'), { recursive: true });
  writeFileSync(join(tmp, 'broken/hart-worker.js'), "throw new Error('this worker dies at once');\n");
  broken = await serveSite(['--out', join(tmp, 'broken'), '--no-build']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  site?.proc.kill();
  plain?.proc.kill();
  broken?.proc.kill();
});

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 760 });
  page.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
  await page.goto(url);
  return page;
}

test("no parameters: Debian's M-mode U-Boot boots to its prompt and answers `version` in the terminal", async () => {
  const page = await open(site.url);
  // Any key stops the autoboot countdown (U-Boot then prompts at once).
  await expectText(page, /Hit any key to stop autoboot/, BOOT_MS);
  await typeLine(page, '');
  await expectText(page, /^=> $/m, BOOT_MS);
  const from = await cursorLine(page);
  await typeLine(page, 'version');
  const reply = await expectText(page, /^=> version\n(.*\n)*?GNU ld .*\n=> $/m, 120_000, from);
  assert.match(reply, /^U-Boot 2023\.01\+dfsg.*$/m);
  assert.match(reply, /^riscv64-linux-gnu-gcc \(Debian/m);
  assert.match(await textOf(page, '#harts'), /harts: 1 \(page thread\)/);
  assert.deepEqual(await pageMessages(page), []);
  await page.close();
});

test('a firmware picked from the disk boots when Start is pressed', async () => {
  const page = await open(site.url);
  await expectText(page, /U-Boot 2023\.01/, BOOT_MS);
  const firmware = (): Promise<string | null> =>
    page.evaluate(() => (globalThis as unknown as { tsvmm: { machine: { boot: { firmware: string | null } } | null } }).tsvmm.machine?.boot.firmware ?? null);
  // The default run loads Debian's U-Boot under its host path, as `tsvmm run` does.
  assert.equal(await firmware(), '/usr/lib/u-boot/qemu-riscv64/u-boot.bin');
  const input = await page.$('input[name="bios-file"]');
  await input!.uploadFile('/usr/lib/u-boot/qemu-riscv64/u-boot.bin');
  await page.click('#start');
  // Start begins a new run on a cleared terminal: the banner appears again, then the prompt.
  // The picked file is registered under its own name.
  await until(page, 'the run of the picked file', async () => ((await firmware()) === 'u-boot.bin' ? true : undefined), 120_000);
  await expectText(page, /Hit any key to stop autoboot/, BOOT_MS);
  assert.deepEqual(await pageMessages(page), []);
  await page.close();
});

test('bad input: no cross-origin isolation names the missing headers and runs one hart; non-images, missing files and dying workers are one clear message', async () => {
  const p1 = await open(`${plain.url}?smp=2`);
  await expectText(p1, /U-Boot 2023\.01/, BOOT_MS);
  const msgs = await pageMessages(p1);
  assert.ok(msgs.some((m) => m.includes('Cross-Origin-Opener-Policy: same-origin') && m.includes('Cross-Origin-Embedder-Policy: require-corp')), JSON.stringify(msgs));
  assert.ok(msgs.some((m) => /Running 1 hart instead of 2/.test(m)), JSON.stringify(msgs));
  // The figures refresh once a second: the banner can come before the first refresh.
  await until(p1, 'the harts figure', async () => (/harts: 1 \(page thread\)/.test(await textOf(p1, '#harts')) ? true : undefined), 30_000);
  await p1.close();

  const p2 = await open(`${site.url}?kernel=cut.elf`);
  const m2 = await until(p2, 'the bad-kernel message', async () => (await pageMessages(p2)).find((m) => m.includes("kernel 'cut.elf'")), 120_000);
  assert.doesNotMatch(m2, /\n/);
  assert.equal(await textOf(p2, '#state'), 'stopped');
  await p2.close();

  const p3 = await open(`${site.url}?initrd=initrd.gz&kernel=missing-kernel`);
  const m3 = await until(p3, 'the missing-file message', async () => (await pageMessages(p3)).find((m) => m.includes('missing-kernel')), 120_000);
  assert.equal(m3, "kernel 'missing-kernel': the site does not serve it (HTTP 404)");
  await p3.close();

  // Hart workers that die: one line in the page, the run ends (exit code 1), the page still answers.
  const p4 = await open(`${broken.url}?smp=2`);
  const m4 = await until(p4, 'the dead-worker message', async () => (await pageMessages(p4)).find((m) => /hart \d: worker failed/.test(m)), 120_000);
  assert.match(m4, /^tsvmm: hart \d: worker failed: .*this worker dies at once/);
  await until(p4, 'the end of the run', async () => ((await textOf(p4, '#state')) === 'powered off (exit code 1)' ? true : undefined), 60_000);
  await p4.close();
});

test('Linux with -smp 2 in Web Workers: a shell, /proc/cpuinfo, a written disk that downloads with those bytes, a screenshot', async () => {
  const page = await open(`${site.url}?kernel=vmlinux&initrd=initrd.gz&append=console%3DttyS0&smp=2&m=512&disk=blank:1`);
  const text = await expectText(page, READY, BOOT_MS);
  assert.equal(READY.exec(text)![2], '2');
  await expectText(page, /# $/m, 120_000);
  assert.match(await textOf(page, '#harts'), /harts: 2 \(workers\)/);

  const cpuinfo = await shellRun(page, 1, 'cat /proc/cpuinfo', 120_000);
  assert.match(cpuinfo, /^processor\s*: 0$/m);
  assert.match(cpuinfo, /^processor\s*: 1$/m);
  assert.match(cpuinfo, /^hart\s*: 1$/m);

  await shellRun(page, 2, "printf 'tsvmm-web-disk-%04d' 42 | dd of=/dev/vda bs=512 seek=100 conv=notrunc 2>/dev/null; sync", 120_000);
  const downloads = join(tmp, 'downloads');
  mkdirSync(downloads);
  const cdp = await browser.target().createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.click('#download');
  const file = await until(page, 'the downloaded disk', async () => (readdirSync(downloads).includes('disk.img') ? join(downloads, 'disk.img') : undefined), 60_000);
  const bytes = await until(page, 'the whole download', async () => {
    const b = readFileSync(file);
    return b.length === 1 << 20 ? b : undefined;
  }, 60_000);
  const want = Buffer.from('tsvmm-web-disk-0042');
  assert.deepEqual(bytes.subarray(51200, 51200 + want.length), want);
  // Everything else is as the blank disk was.
  const rest = Buffer.concat([bytes.subarray(0, 51200), bytes.subarray(51200 + want.length)]);
  assert.ok(rest.every((b) => b === 0));

  mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'artifacts/web-linux-shell.png') });
  assert.deepEqual(await pageMessages(page), []);
  await page.close();
});
