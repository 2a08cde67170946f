// Interop of the stream/socket backends (QEMU's frame protocol) with the
// programs on the other end, driven by U-Boot's virtio-net (a guest that
// boots in seconds):
//  - tsvmm's `-netdev stream,addr.type=unix` to a passt this test starts,
//    the way passt documents for QEMU 7.2: U-Boot gets a DHCP lease.
//  - tsvmm `-netdev socket,connect=` to QEMU 7.2 `-netdev socket,listen=`:
//    U-Boot's DHCP discover from the tsvmm VM arrives in QEMU, whose
//    filter-dump writes it to a pcap with the tsvmm NIC's MAC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole } from '../../helpers/console.js';
import { passtArgs } from '../../../src/net/passt.js';

const PROMPT = /\n=> /;

async function uboot(g: GuestConsole): Promise<void> {
  await g.expect('Hit any key to stop autoboot', 180_000);
  g.send(' ');
  await g.expect(PROMPT);
}

test('-netdev stream,addr.type=unix to a passt socket (as QEMU 7.2 does): U-Boot gets a lease', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-passt-'));
  chmodSync(dir, 0o777); // passt binds its socket after dropping to nobody when run as root
  const sock = join(dir, 'passt.socket');
  const passt = spawn('passt', [...passtArgs([]), '--socket', sock, '--one-off'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const g = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic', '-netdev', `stream,id=p,server=off,addr.type=unix,addr.path=${sock}`, '-device', 'virtio-net-device,netdev=p']);
    try {
      await uboot(g);
      g.line('setenv autoload no; dhcp');
      assert.match(await g.expect(PROMPT, 60_000), /DHCP client bound to address 10\.0\.2\.15/);
      g.line('poweroff');
      assert.equal(await g.exitCode(), 0);
    } finally {
      g.kill();
    }
  } finally {
    passt.kill('SIGTERM');
  }
});

test('tsvmm -netdev socket,connect= to QEMU 7.2 -netdev socket,listen=: frames cross in QEMU\'s framing', { timeout: 300_000 }, async () => {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-link-'));
  const pcap = join(dir, 'link.pcap');
  const qemu = GuestConsole.spawn('qemu-system-riscv64', [
    '-machine', 'virt', '-m', '256M', '-nographic', '-bios', '/usr/lib/u-boot/qemu-riscv64/u-boot.bin',
    '-netdev', `socket,id=q,listen=127.0.0.1:${port}`, '-device', 'virtio-net-device,netdev=q,mac=52:54:00:00:0e:01',
    '-object', `filter-dump,id=d,netdev=q,file=${pcap}`,
  ]);
  let ours: GuestConsole | null = null;
  try {
    await uboot(qemu);
    ours = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic', '-nic', `socket,connect=127.0.0.1:${port},model=virtio-net-device,mac=52:54:00:00:0e:02`]);
    await uboot(ours);
    // No DHCP server on this link: U-Boot broadcasts BOOTP until it gives up (Ctrl-C ends it sooner).
    ours.line('setenv autoload no; dhcp');
    await ours.expect('BOOTP broadcast 2', 60_000);
    ours.send('\x03');
    await ours.expect(PROMPT, 60_000);
    qemu.line('poweroff');
    await qemu.exitCode(30_000);
    const dump = readFileSync(pcap);
    // pcap records: 16-byte record header after the 24-byte file header; find a frame from our MAC.
    const frames: Buffer[] = [];
    for (let off = 24; off + 16 <= dump.length; ) {
      const len = dump.readUInt32LE(off + 8);
      frames.push(dump.subarray(off + 16, off + 16 + len));
      off += 16 + len;
    }
    const fromUs = frames.filter((f) => f.subarray(6, 12).equals(Buffer.from([0x52, 0x54, 0, 0, 0x0e, 0x02])));
    // QEMU's side has no driver running, so QEMU stops reading after the first frame (its flow control).
    assert.ok(fromUs.length >= 1, `frames from the tsvmm NIC in QEMU's dump: ${fromUs.length} of ${frames.length}`);
    // A broadcast IPv4/UDP 68 -> 67 frame: U-Boot's BOOTP request, byte for byte where it matters.
    const f = fromUs[0]!;
    assert.ok(f.subarray(0, 6).equals(Buffer.alloc(6, 0xff)));
    assert.equal(f.readUInt16BE(12), 0x0800);
    assert.equal(f.readUInt16BE(14 + 20), 68);
    assert.equal(f.readUInt16BE(14 + 22), 67);
    ours.line('poweroff');
    assert.equal(await ours.exitCode(), 0);
  } finally {
    qemu.kill();
    ours?.kill();
  }
});
