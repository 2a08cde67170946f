/**
 * The QMP conversation the shape test holds with QEMU 7.2 and with tsvmm.
 * `pick` narrows a reply to the part both machines have (QEMU's virt has
 * extra empty drives, PCI lists differ by the host bridge's details).
 * `sameValue` marks replies whose values, not only shapes, must agree
 * (error classes, statuses).
 */
import type { Msg } from './qmp-client.js';

export interface ScriptStep {
  name: string;
  send: unknown;
  pick?: (reply: Msg) => unknown;
  /** Compare these derived values exactly (not only their shapes). */
  same?: (reply: Msg) => unknown;
}

const ret = (r: Msg): unknown => r.return;
const errClass = (r: Msg): unknown => (r.error as Msg | undefined)?.class ?? 'no error';
const find = (list: unknown, key: string, val: string): unknown => (Array.isArray(list) ? list.find((x: Msg) => x[key] === val) : undefined);

/** Both machines start with: -machine virt -nographic -bios none -serial none -monitor none -name shapes plus these. */
export const SHAPE_ARGS = (img: string, sock: string): string[] => [
  '-machine', 'virt', '-nographic', '-bios', 'none', '-serial', 'none', '-monitor', 'none', '-name', 'shapes',
  '-qmp', `unix:${sock},server,nowait`,
  '-device', 'pci-bridge,id=br1,chassis_nr=1',
  '-drive', `file=${img},if=none,id=d0,format=raw`, '-device', 'virtio-blk-device,drive=d0',
  '-device', 'virtio-rng-pci,id=rng',
];

export const SCRIPT: ScriptStep[] = [
  { name: 'command before negotiation', send: { execute: 'query-status' }, same: errClass },
  { name: 'qmp_capabilities', send: { execute: 'qmp_capabilities' }, same: (r) => r.return },
  { name: 'qmp_capabilities again', send: { execute: 'qmp_capabilities' }, same: errClass },
  { name: 'query-version', send: { execute: 'query-version' } },
  { name: 'query-name', send: { execute: 'query-name' }, same: ret },
  { name: 'query-status', send: { execute: 'query-status' }, same: ret },
  { name: 'query-commands', send: { execute: 'query-commands' } },
  { name: 'query-cpus-fast', send: { execute: 'query-cpus-fast' }, pick: (r) => (r.return as unknown[])[0] },
  { name: 'query-block', send: { execute: 'query-block' }, pick: (r) => find(r.return, 'device', 'd0') },
  { name: 'query-pci', send: { execute: 'query-pci' }, pick: (r) => find(((r.return as Msg[])[0]!).devices, 'qdev_id', 'rng') },
  { name: 'query-chardev', send: { execute: 'query-chardev' }, pick: (r) => find(r.return, 'label', 'compat_monitor0') },
  { name: 'stop', send: { execute: 'stop' }, same: (r) => r.return },
  { name: 'query-status (paused)', send: { execute: 'query-status' }, same: ret },
  { name: 'stop again', send: { execute: 'stop' }, same: (r) => r.return },
  { name: 'cont', send: { execute: 'cont' }, same: (r) => r.return },
  { name: 'system_reset', send: { execute: 'system_reset' } },
  { name: 'system_powerdown', send: { execute: 'system_powerdown' } },
  { name: 'query-status (after powerdown)', send: { execute: 'query-status' }, same: ret },
  { name: 'device_add on pcie.0', send: { execute: 'device_add', arguments: { driver: 'virtio-rng-pci', id: 'r0' } }, same: (r) => r.error },
  { name: 'device_add on virtio-mmio', send: { execute: 'device_add', arguments: { driver: 'virtio-rng-device', id: 'r1' } }, same: errClass },
  { name: 'device_add behind the bridge, slot 0', send: { execute: 'device_add', arguments: { driver: 'virtio-rng-pci', id: 'r2', bus: 'br1' } }, same: (r) => r.error },
  { name: 'device_add unknown driver', send: { execute: 'device_add', arguments: { driver: 'nosuch' } }, same: (r) => r.error },
  { name: 'device_del unknown id', send: { execute: 'device_del', arguments: { id: 'nosuch' } }, same: (r) => r.error },
  { name: 'hmp info status', send: { execute: 'human-monitor-command', arguments: { 'command-line': 'info status' } }, same: ret },
  { name: 'hmp unknown command', send: { execute: 'human-monitor-command', arguments: { 'command-line': 'bogus' } }, same: ret },
  { name: 'hmp missing argument', send: { execute: 'human-monitor-command' }, same: (r) => r.error },
  { name: 'unknown command', send: { execute: 'nosuch' }, same: (r) => r.error },
  { name: 'unexpected argument', send: { execute: 'query-status', arguments: { x: 1 } }, same: (r) => r.error },
  { name: 'unexpected member', send: { foo: 1 }, same: (r) => r.error },
  { name: 'not an object', send: '[1]\n', same: (r) => r.error },
  { name: 'execute not a string', send: { execute: 1 }, same: (r) => r.error },
  { name: 'malformed JSON', send: '{"execute": bad json}\n', same: errClass },
  { name: 'id echoed', send: { execute: 'query-status', id: { tag: ['x', 1] } }, same: (r) => r.id },
  { name: 'quit', send: { execute: 'quit' }, same: (r) => r.return },
];
