// -fsdev/-virtfs parsing and the -device entries of virtio-9p, virtio-serial
// and vhost-vsock: what plugs, and the one-line errors for what does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine } from '../../../src/machine/virt/virt.js';
import { DeviceSpecError, plugDevices } from '../../../src/machine/virt/devices.js';
import { OptionError, parseRunArgs } from '../../../src/machine/options.js';
import { ChardevRegistry } from '../../../src/hw/char/chardev-registry.js';
import { parseChardev } from '../../../src/hw/char/chardev-spec.js';

function setup() {
  const m = new VirtMachine({ ramSize: 16 * 1024 * 1024, smp: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-share-dev-'));
  const fsdevs = new Map<string, Record<string, string>>([
    ['fs0', { driver: 'local', id: 'fs0', path: dir, security_model: 'mapped-file' }],
    ['fs1', { driver: 'local', id: 'fs1', path: dir, security_model: 'mapped-xattr' }],
    ['fs2', { driver: 'local', id: 'fs2', path: join(dir, 'missing'), security_model: 'none' }],
  ]);
  const chardevs = new ChardevRegistry();
  chardevs.add(parseChardev('null,id=c0'));
  chardevs.add(parseChardev('null,id=c1'));
  const plug = (...specs: [string, Record<string, string>][]) =>
    plugDevices({ machine: m, drives: new Map(), fsdevs, chardevs }, specs.map(([driver, props]) => ({ driver, props })));
  return { m, plug };
}

test('-fsdev and -virtfs parse to fsdevs and a virtio-9p-pci device; bad specs are OptionErrors', () => {
  const c = parseRunArgs(['-fsdev', 'local,id=a,path=/tmp,security_model=none,readonly=on', '-virtfs', 'local,path=/srv/x,,y,mount_tag=tag,security_model=mapped-file']);
  assert.deepEqual(c.fsdevs[0], { driver: 'local', id: 'a', path: '/tmp', security_model: 'none', readonly: 'on' });
  assert.deepEqual(c.fsdevs[1], { driver: 'local', id: 'tag', path: '/srv/x,y', security_model: 'mapped-file' });
  assert.deepEqual(c.devices, [{ driver: 'virtio-9p-pci', props: { fsdev: 'tag', mount_tag: 'tag' } }]);
  for (const bad of [
    ['-fsdev', 'local,id=a,path=/tmp'],
    ['-fsdev', 'local,id=a,path=/tmp,security_model=weird'],
    ['-fsdev', 'proxy,id=a,path=/tmp,security_model=none'],
    ['-fsdev', 'local,path=/tmp,security_model=none'],
    ['-fsdev', 'local,id=a,path=/tmp,security_model=none,writeout=immediate'],
    ['-virtfs', 'local,path=/tmp,security_model=none'],
  ]) assert.throws(() => parseRunArgs(bad), OptionError, bad.join(' '));
});

test('virtio-9p, virtio-serial and vsock devices plug; errors are DeviceSpecErrors naming the problem', () => {
  const { m, plug } = setup();
  plug(['virtio-9p-device', { fsdev: 'fs0', mount_tag: 'share' }]);
  plug(['virtio-serial-device', {}], ['virtconsole', { chardev: 'c0' }], ['virtserialport', { chardev: 'c1', name: 'x' }]);
  plug(['vhost-vsock-pci', { 'guest-cid': '3' }]);
  assert.equal(m.virtio.filter((s) => s.occupied).length, 2);
  const err = (re: RegExp, ...specs: [string, Record<string, string>][]) => assert.throws(() => plug(...specs), (e: Error) => e instanceof DeviceSpecError && re.test(e.message));
  err(/fsdev fs0 is already in use/, ['virtio-9p-pci', { fsdev: 'fs0', mount_tag: 'again' }]);
  err(/mapped-file/, ['virtio-9p-pci', { fsdev: 'fs1', mount_tag: 't' }]);
  err(/fs2/, ['virtio-9p-pci', { fsdev: 'fs2', mount_tag: 't' }]);
  err(/no -fsdev with id=nope/, ['virtio-9p-pci', { fsdev: 'nope', mount_tag: 't' }]);
  err(/mount_tag/, ['virtio-9p-pci', { fsdev: 'fs0' }]);
  err(/longer than 31/, ['virtio-9p-pci', { fsdev: 'fs0', mount_tag: 'x'.repeat(40) }]);
  err(/in use/, ['virtserialport', { chardev: 'c0' }]);
  err(/not found/, ['virtserialport', { chardev: 'zz' }]);
  err(/guest-cid/, ['vhost-vsock-device', {}]);
  err(/3\.\.4294967294/, ['vhost-vsock-device', { 'guest-cid': '2' }]);
  const fresh = setup();
  assert.throws(() => fresh.plug(['virtconsole', { chardev: 'c0' }]), /no virtio-serial device/);
});
