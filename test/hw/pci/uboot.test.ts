/**
 * Acceptance: Debian's M-mode U-Boot on the virt board with an edu device
 * lists the PCI functions as QEMU 7.2 shows them (shared/reference/qemu-virt),
 * sizes BAR0, and reads the edu ID register through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine } from '../../../src/machine/virt/virt.js';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import { createEdu } from '../../../src/hw/misc/edu.js';
import { PciBridge } from '../../../src/hw/pci/bridge.js';

test('U-Boot `pci` shows the host bridge as QEMU does and the edu device at 00.01.00', { timeout: 120_000 }, async () => {
  const serial = new PipeBackend();
  const m = new VirtMachine({ ramSize: 256 * 1024 * 1024, smp: 1, serial, clock: { kind: 'virtual', nsPerInsn: 1 } });
  m.boot({});
  // What `-device edu` does: plug the device into the board's gpex host.
  m.gpex.addDevice(createEdu({ scheduler: m.loop }));
  const cmds = ['pci', 'pci long', 'pci enum', 'pci bar 00.01.00', 'md.l 0x40000000 1'];
  const text = await uboot(m, serial, cmds);
  const lines = text.split('\n').map((l) => l.trimEnd());
  assert.ok(lines.includes('00.00.00   0x1b36     0x0008     Bridge device           0x00'), 'host bridge row');
  assert.ok(lines.includes('00.01.00   0x1234     0x11e8     Build before PCI Rev2.0 0xff'), 'edu row');
  // QEMU's `pci 0 long` block for 00.00.00 (uboot-mmode-virtio-pci.txt), line for line.
  const qemuHostBridge = [
    'Found PCI device 00.00.00:',
    '  vendor ID =                   0x1b36',
    '  device ID =                   0x0008',
    '  command register ID =         0x0004',
    '  status register =             0x0000',
    '  revision ID =                 0x00',
    '  class code =                  0x06 (Bridge device)',
    '  sub class code =              0x00',
    '  programming interface =       0x00',
    '  cache line =                  0x08',
    '  latency time =                0x00',
    '  header type =                 0x00',
    '  BIST =                        0x00',
    '  base address 0 =              0x00000000',
    '  base address 1 =              0x00000000',
    '  base address 2 =              0x00000000',
    '  base address 3 =              0x00000000',
    '  base address 4 =              0x00000000',
    '  base address 5 =              0x00000000',
    '  cardBus CIS pointer =         0x00000000',
    '  sub system vendor ID =        0x1af4',
    '  sub system ID =               0x1100',
    '  expansion ROM base address =  0x00000000',
    '  interrupt line =              0x00',
    '  interrupt pin =               0x00',
    '  min Grant =                   0x00',
    '  max Latency =                 0x00',
  ];
  const at = lines.indexOf('Found PCI device 00.00.00:');
  assert.ok(at >= 0);
  assert.deepEqual(lines.slice(at, at + qemuHostBridge.length), qemuHostBridge);
  assert.ok(lines.some((l) => /^ 0 {3}0x0000000040000000 {2}0x0000000000100000 {2}32 {5}MEM$/.test(l)), 'pci bar shows BAR0');
  assert.ok(lines.includes('40000000: 010000ed                             ....'), 'md.l reads the edu ID');
});

/** Boot U-Boot, stop autoboot, run `cmds`, quit; returns the console text. */
async function uboot(m: VirtMachine, serial: PipeBackend, cmds: string[]): Promise<string> {
  let text = '';
  let stopped = false;
  serial.onOutput((b) => {
    text += String.fromCharCode(b);
    if (!stopped && text.includes('Hit any key')) {
      stopped = true;
      serial.feed('\n');
    }
    if (text.endsWith('=> ')) {
      const c = cmds.shift();
      if (c) setImmediate(() => serial.feed(c + '\n'));
      else m.quit(0);
    }
  });
  const guard = setTimeout(() => m.quit(2), 100_000);
  const code = await m.run();
  clearTimeout(guard);
  assert.equal(code, 0, text.slice(-2000));
  return text.replace(/\r/g, '');
}

test('U-Boot enumerates a PCI-to-PCI bridge: numbers bus 1, opens a window, reaches the edu behind it', { timeout: 120_000 }, async () => {
  const serial = new PipeBackend();
  const m = new VirtMachine({ ramSize: 256 * 1024 * 1024, smp: 1, serial, clock: { kind: 'virtual', nsPerInsn: 1 } });
  m.boot({});
  const br = new PciBridge();
  m.gpex.addDevice(br);
  const behind = createEdu({ scheduler: m.loop });
  br.addDevice(behind);
  const text = await uboot(m, serial, ['pci', 'pci header 00.01.00', 'pci bar 01.00.00']);
  const lines = text.split('\n').map((l) => l.trimEnd());
  assert.ok(lines.includes('00.01.00   0x1b36     0x0001     Bridge device           0x04'));
  assert.ok(lines.includes('01.00.00   0x1234     0x11e8     Build before PCI Rev2.0 0xff'));
  assert.ok(lines.includes('  secondary bus number =        0x01'));
  assert.ok(lines.includes('  subordinate bus number =      0x01'));
  const bar = lines.map((l) => /^ 0 {3}0x([0-9a-f]{16}) {2}0x0000000000100000 {2}32 {5}MEM$/.exec(l)).find((x) => x);
  assert.ok(bar, 'BAR0 of 01:00.0 assigned');
  const addr = parseInt(bar[1]!, 16);
  // What U-Boot programmed is live: the CPU reaches the edu through the bridge's window.
  assert.equal(m.as.ldl(addr), 0x010000ed);
  assert.equal(behind.requesterId, 0x100);
});
