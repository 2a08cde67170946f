// Acceptance: Debian's U-Boot finds the virtio-net NIC (its "Net:" line and
// `dm tree`) and gets a DHCP lease from passt (-netdev user), over
// virtio-mmio and virtio-pci; mac= reaches U-Boot's ethaddr. As with QEMU
// 7.2, U-Boot probes virtio-mmio before its "Net:" line and PCI only after
// `pci enum; virtio scan`. U-Boot 2023.01's legacy virtio-pci driver reads
// every MAC byte from config offset 0, so a transitional NIC shows
// 52:52:52:52:52:52 (the same under QEMU 7.2); its modern driver reads mac=.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestConsole } from '../../helpers/console.js';

const PROMPT = /\n=> /;

const SETUPS = [
  { name: 'virtio-net-device', args: ['-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0'], mac: '52:54:00:12:34:56', net: /Net:\s+eth0: virtio-net#\d+/, parent: /virtio-mmio\s+\|\s+\|-- virtio_mmio@10008000/ },
  { name: '-nic user (transitional virtio-net-pci)', args: ['-nic', 'user,mac=52:54:00:ab:cd:ef'], mac: '52:52:52:52:52:52', net: /Net:\s+No ethernet found/, parent: /virtio-pci\.l\s+\|\s+\|\s+`-- virtio-pci\.l#0/ },
  { name: 'modern virtio-net-pci, mac=', args: ['-netdev', 'user,id=u', '-device', 'virtio-net-pci,netdev=u,disable-legacy=on,mac=52:54:00:ab:cd:ef'], mac: '52:54:00:ab:cd:ef', net: /Net:\s+No ethernet found/, parent: /virtio-pci\.m\s+\|\s+\|\s+`-- virtio-pci\.m#0/ },
] as const;

for (const s of SETUPS) {
  test(`U-Boot sees the NIC and gets a DHCP lease from passt over ${s.name}`, { timeout: 240_000 }, async () => {
    const g = GuestConsole.run(['-machine', 'virt', '-m', '256M', '-nographic', ...s.args]);
    try {
      const banner = await g.expect('Hit any key to stop autoboot', 180_000);
      assert.match(banner, s.net);
      g.send(' ');
      await g.expect(PROMPT);
      g.line('pci enum; virtio scan; dm tree');
      const tree = await g.expect(PROMPT);
      assert.match(tree, /ethernet\s+0\s+\[ \+ \]\s+virtio-net/);
      assert.match(tree, s.parent);
      g.line('setenv autoload no; dhcp');
      assert.match(await g.expect(PROMPT, 60_000), /DHCP client bound to address 10\.0\.2\.15/);
      g.line('print ipaddr ethaddr');
      const env = await g.expect(PROMPT);
      assert.match(env, /ipaddr=10\.0\.2\.15/);
      assert.match(env, new RegExp(`ethaddr=${s.mac}`));
      g.line('poweroff');
      assert.equal(await g.exitCode(), 0);
    } finally {
      g.kill();
    }
  });
}
