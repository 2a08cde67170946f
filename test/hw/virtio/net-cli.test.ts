// Bad network options and missing pieces fail with one line and exit 1
// before any guest instruction runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { TSVMM } from '../../helpers/console.js';

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [TSVMM, 'run', '-nographic', ...args], { encoding: 'utf8', input: '', timeout: 60_000, env });
  return { code: r.status, err: r.stderr.trim(), out: r.stdout };
}

function expectSetupError(args: string[], pattern: RegExp, env?: NodeJS.ProcessEnv): void {
  const r = run(args, env);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
  assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
  assert.match(r.err, pattern);
  assert.doesNotMatch(r.out, /U-Boot|OpenSBI/, 'no guest ran');
}

test('-netdev user without passt installed: one line naming the package, exit 1, no guest', () => {
  // PATH without passt (node is started by its absolute path).
  expectSetupError(['-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0'], /passt is not installed .*apt-get install passt/, { ...process.env, PATH: '/nonexistent' });
  expectSetupError(['-nic', 'user'], /passt is not installed/, { ...process.env, PATH: '/nonexistent' });
});

test('bad -netdev, -nic and virtio-net options are refused with QEMU\'s meaning', async () => {
  // A port nobody listens on (bound, then closed), for the connect failure.
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const dead = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  // A port in use, for the hostfwd that cannot bind.
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const busy = (holder.address() as AddressInfo).port;
  const cases: Array<[string[], RegExp]> = [
    [['-netdev', 'user'], /Parameter 'id' is missing/],
    [['-netdev', 'tap,id=t0'], /network backend 'tap' is not supported/],
    [['-netdev', 'user,id=n0,hostfwd=tcp::abc-:22'], /invalid host forwarding rule 'tcp::abc-:22'/],
    [['-netdev', 'user,id=n0,hostfwd=tcp::2222-10.0.2.99:22'], /the guest's address is 10\.0\.2\.15/],
    [['-netdev', 'user,id=n0,net=192.168.5.0/24'], /net=192\.168\.5\.0\/24 is not supported/],
    [['-netdev', 'user,id=n0,smb=/tmp'], /Parameter 'smb' is unexpected/],
    [['-netdev', 'socket,id=s0'], /exactly one of listen= or connect= is required/],
    [['-netdev', 'socket,id=s0,mcast=230.0.0.1:1234'], /mcast= is not supported/],
    [['-netdev', 'stream,id=s0,server=on'], /Parameter 'addr.type' is missing/],
    [['-netdev', 'stream,id=s0,addr.type=inet,addr.host=127.0.0.1'], /Parameter 'addr.port' is missing/],
    [['-netdev', `stream,id=s0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${dead}`], /cannot connect to 127\.0\.0\.1:\d+/],
    [['-netdev', `socket,id=s0,connect=127.0.0.1:${dead}`, '-netdev', `socket,id=s0,connect=127.0.0.1:${dead}`], /cannot connect|Duplicate ID/],
    [['-nic', 'user,model=e1000'], /model 'e1000' is not supported/],
    [['-nic', `user,hostfwd=tcp:127.0.0.1:${busy}-:80`], new RegExp(`could not set up host forwarding rule 'tcp:127\\.0\\.0\\.1:${busy}-:80'`)],
    [['-device', 'virtio-net-device,netdev=nope'], /Property 'virtio-net-device\.netdev' can't find value 'nope'/],
    [['-netdev', `socket,id=s0,listen=127.0.0.1:0`, '-device', 'virtio-net-device,netdev=s0', '-device', 'virtio-net-pci,netdev=s0'], /can't take value 's0', it's in use/],
    [['-device', 'virtio-net-pci,mac=52:54:00:12:34'], /Property 'virtio-net-pci\.mac' doesn't take value/],
    [['-device', 'virtio-net-pci,mac=01:00:5e:00:00:01'], /multicast MAC address/],
    [['-device', 'virtio-net-device,vectors=4'], /Property 'virtio-net-device\.vectors' not found/],
  ];
  try {
    for (const [args, pattern] of cases) expectSetupError(args, pattern);
  } finally {
    holder.close();
  }
});
