// Acceptance (issue 15): Linux networking over virtio-net, in two boots that
// run side by side (each Linux boot costs minutes of interpreted guest time,
// so every check shares them).
//
// VM A has three NICs: virtio-net-pci and virtio-net-device on two
// `-netdev user` links (two passt processes), and virtio-net-device on a
// `-netdev stream` listener. VM B has one NIC whose `-netdev socket,connect=`
// link reaches A's listener (QEMU's frame protocol on both ends).
//
//  - DHCP at boot gives eth0 (the PCI NIC) 10.0.2.15; the guest fetches a file
//    from an HTTP server this test runs on 127.0.0.1 (the guest's 10.0.2.2 is
//    the host's loopback) and its md5 equals the host's; through hostfwd the
//    host reads a page from busybox httpd in the guest.
//  - The same over the virtio-mmio NIC after a DHCP there.
//  - A and B ping each other over the stream link and B fetches a file from A
//    intact.
//  - passt dies mid-run: the guest sees carrier 0, tsvmm logs one line, the VM
//    keeps running and powers off cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { GuestConsole } from '../helpers/console.js';
import { ensureGuest, linuxArgs, md5, READY, Shell } from './guest.js';

const BOOT_MS = 3_000_000;
const UDHCPC = 'udhcpc -n -q -t 10 -T 2 -s /usr/share/udhcpc/default.script';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Child processes of `pid` whose command is `comm` (from /proc, no procps needed). */
function children(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      // Debian's passt re-executes itself as passt.avx2 where the CPU has AVX2.
      if (m && (m[1] === comm || m[1]!.startsWith(`${comm}.`)) && Number(m[2]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Interface name for each MAC address. */
async function interfaces(sh: Shell): Promise<Map<string, string>> {
  const out = await sh.run('for i in /sys/class/net/eth*; do echo "if $(basename $i) $(cat $i/address)"; done');
  const m = new Map<string, string>();
  for (const [, name, mac] of out.matchAll(/^if (\S+) (\S+)$/gm)) m.set(mac!, name!);
  return m;
}

async function waitFor(sh: Shell, cmd: string, want: RegExp, tries = 60): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    last = await sh.run(cmd);
    if (want.test(last)) return last;
    await sh.run('sleep 1');
  }
  throw new Error(`'${cmd}' never matched ${want}; last output:\n${last}`);
}

test('Linux networking: passt DHCP, fetch from the host, hostfwd over virtio-net-pci and -device; two VMs over a stream link; passt dying', { timeout: BOOT_MS + 900_000 }, async () => {
  ensureGuest();
  const blob = randomBytes(384 * 1024);
  const http = createHttpServer((req, res) => {
    if (req.url === '/blob.bin') res.end(blob);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const httpPort = (http.address() as AddressInfo).port;
  const fwdPort = await freePort();
  const linkPort = await freePort();
  const MAC_PCI = '52:54:00:12:34:56'; // QEMU's default for the first NIC
  const MAC_MMIO = '52:54:00:aa:bb:01';
  const MAC_LINK = '52:54:00:77:00:01';
  const a = GuestConsole.run(
    linuxArgs(1, [
      '-netdev', `user,id=u0,hostfwd=tcp:127.0.0.1:${fwdPort}-:80`,
      '-device', 'virtio-net-pci,netdev=u0',
      '-netdev', 'user,id=u1',
      '-device', `virtio-net-device,netdev=u1,mac=${MAC_MMIO}`,
      '-netdev', `stream,id=s0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=${linkPort}`,
      '-device', `virtio-net-device,netdev=s0,mac=${MAC_LINK}`,
    ]),
  );
  let b: GuestConsole | null = null;
  try {
    // A listens before its guest starts (OpenSBI prints first): B can connect now.
    await a.expect('OpenSBI', 120_000);
    b = GuestConsole.run(linuxArgs(1, ['-nic', `socket,connect=127.0.0.1:${linkPort},model=virtio-net-device,mac=52:54:00:77:00:02`]));
    await Promise.all([a.expect(READY, BOOT_MS), b.expect(READY, BOOT_MS)]);
    const sa = new Shell(a);
    const sb = new Shell(b);
    await Promise.all([sa.prompt(), sb.prompt()]);

    const ifs = await interfaces(sa);
    assert.equal(ifs.size, 3, [...ifs].join(' '));
    assert.equal(ifs.get(MAC_PCI), 'eth0', 'the PCI NIC (probed first) is eth0 and has the default MAC');
    const ethMmio = ifs.get(MAC_MMIO)!;
    const ethLink = ifs.get(MAC_LINK)!;
    assert.ok(ethMmio && ethLink);
    assert.match(await sa.run('readlink -f /sys/class/net/eth0/device'), /pci/);
    assert.match(await sa.run(`readlink -f /sys/class/net/${ethMmio}/device`), /virtio_mmio|10008000|1000[0-9a-f]000\.virtio/);

    // eth0 (virtio-net-pci): the boot's udhcpc got passt's lease.
    await waitFor(sa, 'ip -4 addr show eth0', /inet 10\.0\.2\.15\/24/);
    assert.match(await sa.run('ip route'), /default via 10\.0\.2\.2 dev eth0/);
    const sum0 = await sa.run(`wget -q -O /tmp/b0 http://10.0.2.2:${httpPort}/blob.bin && md5sum /tmp/b0`);
    assert.match(sum0, new RegExp(`^${md5(blob)}\\s`, 'm'));

    // hostfwd: the host connects to 127.0.0.1:fwdPort and reaches busybox httpd on the guest's port 80.
    await sa.run("mkdir -p /www && echo 'hello from the guest over hostfwd' > /www/hello.txt && httpd -p 80 -h /www");
    assert.equal(await fetchText(`http://127.0.0.1:${fwdPort}/hello.txt`), 'hello from the guest over hostfwd\n');

    // The virtio-mmio NIC on the second passt: DHCP there, the same fetch.
    await sa.run(`killall udhcpc; ip link set eth0 down; ${UDHCPC} -i ${ethMmio}`);
    assert.match(await sa.run(`ip -4 addr show ${ethMmio}`), /inet 10\.0\.2\.15\/24/);
    const sum1 = await sa.run(`wget -q -O /tmp/b1 http://10.0.2.2:${httpPort}/blob.bin && md5sum /tmp/b1`);
    assert.match(sum1, new RegExp(`^${md5(blob)}\\s`, 'm'));

    // A <-> B over the stream link (static addresses; B's eth0 is its only NIC).
    await sa.run(`ip addr add 192.168.77.1/24 dev ${ethLink} && ip link set ${ethLink} up`);
    await sb.run('ip addr add 192.168.77.2/24 dev eth0 && ip link set eth0 up');
    assert.match(await sb.run('ping -c 3 -W 10 192.168.77.1'), /3 packets transmitted, 3 packets received/);
    assert.match(await sa.run('ping -c 3 -W 10 192.168.77.2'), /3 packets transmitted, 3 packets received/);
    await sa.run('dd if=/dev/urandom of=/www/f bs=1024 count=256 2>/dev/null');
    const sumA = /([0-9a-f]{32})\s+\/www\/f/.exec(await sa.run('md5sum /www/f'))?.[1];
    const sumB = /([0-9a-f]{32})\s+-/.exec(await sb.run('wget -q -O - http://192.168.77.1/f | md5sum'))?.[1];
    assert.ok(sumA, 'md5 in A');
    assert.equal(sumB, sumA, 'the file B fetched over the link is intact');

    // passt behind the mmio NIC dies: carrier goes to 0 in the guest, one log line, the VM goes on.
    const passts = children(a.proc.pid!, 'passt');
    assert.equal(passts.length, 2, `passt processes: ${passts.join(' ')}`);
    process.kill(passts[1]!, 'SIGKILL');
    await waitFor(sa, `cat /sys/class/net/${ethMmio}/carrier`, /^0$/m, 30);
    assert.match(a.stderr, /netdev u1: passt killed by SIGKILL( \(.*\))?; link down, the guest keeps running/);
    assert.equal((await sa.run('echo still-$((40+2))')).trim(), 'still-42');
    assert.match(await sa.run(`ping -c 1 -W 10 192.168.77.2`), /1 packets received/);

    a.send('poweroff -f\n');
    b.send('poweroff -f\n');
    assert.equal(await a.exitCode(120_000), 0);
    assert.equal(await b.exitCode(120_000), 0);
    for (let i = 0; i < 50 && alive(passts[0]!); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(passts[0]!), 'tsvmm stopped its passt on exit');
  } finally {
    a.kill();
    b?.kill();
    http.close();
  }
});
