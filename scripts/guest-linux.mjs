#!/usr/bin/env node
// npm run guest:linux — builds a Linux guest into guests/linux/ (ignored by git)
// from Debian's packages, the recipe in docs/guests.md:
//   vmlinux    the kernel image from linux-image-riscv64 (Debian 13 "trixie", riscv64)
//   initrd.gz  busybox-static, the modules the guest needs with their
//              dependencies (from each module's own `depends=` field), and an init
// Nothing here enters the repository; the packages come from Debian's archive
// through a temporary apt configuration that leaves the host's apt untouched.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, chmodSync, statSync, symlinkSync } from 'node:fs';
import { join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --backports: Debian 13's backports kernel (7.x, built with the RISC-V IOMMU driver) into guests/linux-bpo/.
const backports = process.argv.includes('--backports');
const out = join(root, 'guests', backports ? 'linux-bpo' : 'linux');
const work = join(out, '.work');
const force = process.argv.includes('--force');
// Bumped when the recipe changes, so a stale guests/linux is rebuilt.
const RECIPE = 6;

const WANT_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_net', 'virtio-rng', 'ext4'];
// Host folders over virtio-9p and host channels over virtio-vsock (docs/sharing.md); dependencies (9pnet, netfs, vsock) follow.
WANT_MODULES.push('9pnet_virtio', '9p', 'vmw_vsock_virtio_transport');
// Loaded when the kernel package has them (QEMU's pvpanic-pci device reports panics; 7.x kernels
// fold crc32c_generic into the crc library).
const OPTIONAL_MODULES = ['crc32c_generic', 'pvpanic_pci'];

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30, ...opts });
}

function need(cmd, pkg) {
  try {
    sh('sh', ['-c', `command -v ${cmd}`]);
  } catch {
    console.error(`guest:linux: '${cmd}' is missing; install it with: apt-get install ${pkg}`);
    process.exit(1);
  }
}

/**
 * The Debian archive the host's own apt uses (its main archive: not the
 * security or updates suites), from /etc/apt/sources.list and the one-line
 * and deb822 files in sources.list.d, so the recipe works wherever the
 * host's apt does and names no mirror itself.
 */
function hostDebianMirror() {
  const entries = [];
  const read = (p) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
  const oneLine = (text) => {
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m) entries.push({ uri: m[1], suites: [m[2]] });
    }
  };
  const deb822 = (text) => {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (k) => new RegExp(`^${k}:\\s*(.*)$`, 'mi').exec(stanza.replace(/^#.*$/gm, ''))?.[1].trim().split(/\s+/) ?? [];
      if (!field('Types').includes('deb') || /^Enabled:\s*no/mi.test(stanza)) continue;
      for (const uri of field('URIs')) entries.push({ uri, suites: field('Suites') });
    }
  };
  oneLine(read('/etc/apt/sources.list'));
  const dir = '/etc/apt/sources.list.d';
  for (const f of existsSync(dir) ? readdirSync(dir).sort() : []) {
    if (f.endsWith('.list')) oneLine(read(join(dir, f)));
    else if (f.endsWith('.sources')) deb822(read(join(dir, f)));
  }
  const main = entries.find((e) => e.suites.some((x) => !/-(security|updates|backports)$/.test(x) && !x.includes('/')) && !/security/.test(e.uri));
  if (!main) {
    console.error('guest:linux: no Debian archive found in the host apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d)');
    process.exit(1);
  }
  return main.uri.replace(/\/+$/, '');
}

const manifest = join(out, 'manifest.txt');
const current = existsSync(manifest) && readFileSync(manifest, 'utf8').includes(`recipe ${RECIPE}\n`);
if (!force && current && existsSync(join(out, 'vmlinux')) && existsSync(join(out, 'initrd.gz'))) {
  console.log(`guest:linux: ${out} is already built (use --force to rebuild)`);
  process.exit(0);
}
need('apt-get', 'apt');
need('dpkg-deb', 'dpkg');
need('cpio', 'cpio');
need('xz', 'xz-utils');
need('gzip', 'gzip');

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'apt', 'lists', 'partial'), { recursive: true });
mkdirSync(join(work, 'apt', 'cache', 'archives', 'partial'), { recursive: true });
const sources = join(work, 'apt', 'sources.list');
const suites = backports ? ['trixie', 'trixie-backports'] : ['trixie'];
const mirror = hostDebianMirror();
writeFileSync(
  sources,
  suites.map((s) => `deb [arch=riscv64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${s} main\n`).join(''),
);
writeFileSync(join(work, 'apt', 'status'), '');
const apt = [
  '-o', `Dir::Etc::sourcelist=${sources}`,
  '-o', 'Dir::Etc::sourceparts=-',
  '-o', 'APT::Architecture=riscv64',
  '-o', 'APT::Architectures=riscv64',
  '-o', `Dir::State::Lists=${join(work, 'apt', 'lists')}`,
  '-o', `Dir::Cache=${join(work, 'apt', 'cache')}`,
  '-o', `Dir::State::status=${join(work, 'apt', 'status')}`,
  '-o', 'APT::Sandbox::User=root',
  '-q',
];
console.log('guest:linux: reading the trixie riscv64 package lists');
sh('apt-get', [...apt, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
const dl = join(work, 'dl');
mkdirSync(dl, { recursive: true });
let kpkg;
if (!backports) {
  const deps = sh('apt-cache', [...apt, 'depends', 'linux-image-riscv64']).toString();
  kpkg = /Depends: (linux-image-[^\s]+-riscv64)/.exec(deps)?.[1];
  if (!kpkg) throw new Error(`cannot find the kernel package behind linux-image-riscv64:\n${deps}`);
  console.log(`guest:linux: downloading ${kpkg} and busybox-static`);
  sh('apt-get', [...apt, 'download', kpkg, 'busybox-static'], { cwd: dl, stdio: ['ignore', 'ignore', 'inherit'] });
} else {
  // Backports kernels come split (linux-binary-*: the image, linux-modules-*, linux-base-*: config and
  // modules.builtin). The archive's index can name a version whose files the mirror does not carry
  // yet, so the newest version that downloads completely wins.
  const names = sh('apt-cache', [...apt, 'search', '--names-only', '^linux-image-[0-9][^ ]*-riscv64$'])
    .toString()
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n && !n.endsWith('-dbg'));
  const ver = (n) => n.replace(/^linux-image-/, '').replace(/\+.*$/, '').split('.').map(Number);
  names.sort((a, b) => {
    const va = ver(a);
    const vb = ver(b);
    for (let i = 0; i < Math.max(va.length, vb.length); i++) if ((va[i] ?? 0) !== (vb[i] ?? 0)) return (vb[i] ?? 0) - (va[i] ?? 0);
    return 0;
  });
  for (const name of names) {
    const flavour = name.replace(/^linux-image-/, '');
    if (!flavour.startsWith('7.')) continue;
    const parts = [`linux-binary-${flavour}`, `linux-modules-${flavour}`, `linux-base-${flavour}`];
    try {
      rmSync(dl, { recursive: true, force: true });
      mkdirSync(dl, { recursive: true });
      console.log(`guest:linux: downloading ${parts.join(', ')} and busybox-static`);
      sh('apt-get', [...apt, 'download', ...parts, 'busybox-static'], { cwd: dl, stdio: ['ignore', 'ignore', 'ignore'] });
      kpkg = name;
      break;
    } catch {
      console.log(`guest:linux: ${name} is not complete on the mirror; trying an older one`);
    }
  }
  if (!kpkg) throw new Error('no 7.x riscv64 backports kernel could be downloaded');
}

const x = join(work, 'x');
for (const deb of readdirSync(dl)) sh('dpkg-deb', ['-x', join(dl, deb), x]);
// The image is boot/vmlinux-<release> (trixie) or usr/lib/modules/<release>/vmlinuz (split packages).
const boot = join(x, 'boot');
const bootImage = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinux-') || f.startsWith('vmlinuz-')) : undefined;
const splitRelease = bootImage ? undefined : readdirSync(join(x, 'usr', 'lib', 'modules')).find((r) => existsSync(join(x, 'usr', 'lib', 'modules', r, 'vmlinuz')));
if (!bootImage && !splitRelease) throw new Error('no kernel image in the package');
const kver = bootImage ? bootImage.replace(/^vmlinu[xz]-/, '') : splitRelease;
const modRoot = [join(x, 'usr', 'lib', 'modules', kver), join(x, 'lib', 'modules', kver)].find(existsSync);
if (!modRoot) throw new Error('no modules directory in the package');
const imagePath = bootImage ? join(boot, bootImage) : join(modRoot, 'vmlinuz');
const configPath = bootImage ? join(boot, `config-${kver}`) : join(modRoot, 'config');
const sysmapPath = bootImage ? join(boot, `System.map-${kver}`) : join(modRoot, 'System.map');

// Index every module by name (file name with - and _ equivalent).
const norm = (n) => n.replace(/-/g, '_');
const byName = new Map();
(function walk(d) {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(f)) byName.set(norm(f.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '')), p);
  }
})(modRoot);
const builtin = new Set(readFileSync(join(modRoot, 'modules.builtin'), 'utf8').split('\n').filter(Boolean).map((l) => norm(basename(l, '.ko'))));

function decompressed(p) {
  if (p.endsWith('.xz')) return sh('xz', ['-dc', p]);
  if (p.endsWith('.gz')) return sh('gzip', ['-dc', p]);
  if (p.endsWith('.zst')) return sh('zstd', ['-dc', p]);
  return readFileSync(p);
}

// Debian signs its modules; the kernel then hashes every module it loads
// (sha256 over the whole file) before checking the signature. Interpreted,
// that costs minutes for ext4, and Debian's kernel does not enforce signatures
// without Secure Boot, so the signature is cut off: the kernel logs once that
// it is tainted ('E') and loads the module. The trailer is the signature, a
// 12-byte descriptor whose last field is the big-endian signature length, and
// the magic string.
const SIG_MAGIC = Buffer.from('~Module signature appended~\n');
function unsigned(buf) {
  if (buf.length < SIG_MAGIC.length + 12 || !buf.subarray(buf.length - SIG_MAGIC.length).equals(SIG_MAGIC)) return buf;
  const desc = buf.length - SIG_MAGIC.length - 12;
  const sigLen = buf.readUInt32BE(desc + 8);
  return buf.subarray(0, desc - sigLen);
}

function modinfo(buf, key) {
  // The .modinfo section is a run of NUL-terminated key=value strings.
  const s = buf.toString('latin1');
  const out = [];
  const re = new RegExp(`(?:^|\\0)${key}=([^\\0]*)`, 'g');
  for (let m; (m = re.exec(s)); ) out.push(m[1]);
  return out;
}

// Dependency closure, in load order (dependencies first).
const order = [];
const seen = new Set();
const blobs = new Map();
function visit(name) {
  name = norm(name);
  if (seen.has(name) || builtin.has(name)) return;
  seen.add(name);
  const p = byName.get(name);
  if (!p) throw new Error(`module ${name} not found in ${kpkg}`);
  const buf = unsigned(decompressed(p));
  blobs.set(name, buf);
  for (const d of modinfo(buf, 'depends').flatMap((v) => v.split(',')).filter(Boolean)) visit(d);
  for (const sd of modinfo(buf, 'softdep')) {
    for (const m of sd.replace(/^pre:\s*/, '').split(/\s+/).filter((t) => t && !t.includes(':'))) {
      const alias = norm(m.replace(/^crypto-/, ''));
      if (byName.has(alias) || byName.has(`${alias}_generic`)) visit(byName.has(alias) ? alias : `${alias}_generic`);
    }
  }
  order.push(name);
}
for (const m of WANT_MODULES) visit(m);
for (const m of OPTIONAL_MODULES) if (byName.has(norm(m)) && !builtin.has(norm(m))) visit(m);

const rootfs = join(work, 'rootfs');
for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'lib/modules', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
copyFileSync([join(x, 'bin', 'busybox'), join(x, 'usr', 'bin', 'busybox')].find(existsSync), join(rootfs, 'bin', 'busybox'));
chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
for (const name of order) writeFileSync(join(rootfs, 'lib', 'modules', `${name}.ko`), blobs.get(name));
writeFileSync(join(rootfs, 'lib', 'modules', 'load-order'), order.join('\n') + '\n');
// busybox udhcpc hands the lease to this script (docs/net.md): address, MTU, default route, DNS.
mkdirSync(join(rootfs, 'usr', 'share', 'udhcpc'), { recursive: true });
writeFileSync(
  join(rootfs, 'usr', 'share', 'udhcpc', 'default.script'),
  `#!/bin/sh
case "$1" in
deconfig) ip link set "$interface" up ;;
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/\${mask:-24}" dev "$interface"
  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
  for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; done
  : > /etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
  ;;
esac
exit 0
`,
);
chmodSync(join(rootfs, 'usr', 'share', 'udhcpc', 'default.script'), 0o755);
writeFileSync(
  join(rootfs, 'init'),
  `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m.ko 2>/dev/null; done
mdev -s 2>/dev/null
ip link set lo up 2>/dev/null
# A NIC: configure it by DHCP in the background (retries until a server answers; a -netdev user link has passt's).
[ -e /sys/class/net/eth0 ] && udhcpc -f -i eth0 -s /usr/share/udhcpc/default.script >/tmp/udhcpc.log 2>&1 &
echo "tsvmm-guest-ready: $(uname -r) cpus=$(nproc)"
exec setsid cttyhack sh
`,
);
chmodSync(join(rootfs, 'init'), 0o755);

mkdirSync(out, { recursive: true });
copyFileSync(imagePath, join(out, 'vmlinux'));
// The kernel's configuration, for finding out what is built in (not loaded by anything).
if (existsSync(configPath)) copyFileSync(configPath, join(out, 'config'));
// Kernel symbols, for turning guest PCs into function names when profiling.
if (existsSync(sysmapPath)) copyFileSync(sysmapPath, join(out, 'System.map'));
const list = sh('sh', ['-c', 'find . | sort'], { cwd: rootfs }).toString();
const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], { cwd: rootfs, input: list, maxBuffer: 1 << 30 });
writeFileSync(join(out, 'initrd.gz'), execFileSync('gzip', ['-9n'], { input: cpio, maxBuffer: 1 << 30 }));
writeFileSync(join(out, 'manifest.txt'), `recipe ${RECIPE}\nkernel ${kpkg} (${kver})\nmodules ${order.join(' ')}\n`);
rmSync(work, { recursive: true, force: true });
console.log(`guest:linux: built ${join(out, 'vmlinux')} and ${join(out, 'initrd.gz')} (modules: ${order.join(' ')})`);
