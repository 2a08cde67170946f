/**
 * `tsvmm run`: build the virt machine from QEMU-style options, load firmware,
 * attach the console, run until the guest powers off, and exit with its code.
 * Every setup error (options, firmware, devices, backends) is one line on
 * stderr and exit code 1, before any guest instruction runs.
 */
import type { Command, HostHooks } from './command.js';
import { UsageError } from './command.js';
import { OptionError, parseRunArgs, type RunConfig } from '../machine/options.js';
import { BootError, VirtMachine } from '../machine/virt/virt.js';
import { DeviceSpecError, checkDeviceNames, deviceHelp } from '../machine/virt/devices.js';
import { plugDriveShortcuts, unclaimedDrives } from '../hw/virtio/virt-devices.js';
import { BlockError } from '../block/driver.js';
import type { BlockBackend } from '../block/backend.js';
import { blockdevDrives, driveSpec, parseBlockdev } from '../block/drive-options.js';
import { openBlockBackend } from '../block/open.js';
import { PanicWatch } from '../machine/panic-watch.js';
import { NetdevSpecError, type NetBackend } from '../net/backend.js';
import { openNetdevs, parseNetdev, parseNic, type NetdevSpec } from '../net/netdev.js';
import { CharDevSpecError, type CharBackend } from '../hw/char/chardev.js';
import { ChardevRegistry } from '../hw/char/chardev-registry.js';
import { setupChardevs } from '../machine/chardev-setup.js';
import { DeviceHotplugError, DeviceInventory } from '../machine/virt/device-inventory.js';
import { startMonitors, type ControlPlane } from '../monitor/control-plane.js';
import { helpText } from './qemu-help.js';
import { attachGdbStub, detachGdbStub } from '../gdbstub/attach.js';
import { GdbSpecError, parseGdbSpec, type GdbListenSpec } from '../gdbstub/server.js';
import { DAEMON_ENV, daemonReady, daemonize, fileLogger, writePidfile } from './run-host.js';

const HELP = `usage: tsvmm run [options]   (QEMU syntax; one or two leading dashes)
  -machine virt | -M virt     the board (QEMU 7.2's riscv64 virt)
  -m SIZE                     RAM, e.g. 256M, 1G, or a number of MiB (default 256M)
  -smp N                      harts (default 1)
  -bios FILE|none             firmware (default: Debian's M-mode U-Boot; with -kernel, OpenSBI fw_dynamic)
  -kernel FILE -initrd FILE -append CMDLINE -dtb FILE
  -nographic                  console on stdio (the default: tsvmm has no display)
  -serial stdio|mon:stdio|null|none|file:PATH|pipe:PATH|chardev:ID
          |tcp:[HOST]:PORT[,server][,nowait]|unix:PATH[,server][,nowait]   (listens on 127.0.0.1 unless HOST is given)
  -chardev socket|file|stdio|pipe|null|ringbuf,id=ID[,...]   (-chardev help)
  -qmp SPEC | -qmp-pretty SPEC   QMP on a chardev spec, e.g. unix:/tmp/qmp.sock,server,nowait or tcp::4444,server,nowait
  -monitor SPEC | -mon chardev=ID[,mode=readline|control][,pretty=on]   the human monitor (or QMP) on a chardev
  -S                          do not start the CPUs until 'cont' (monitor or QMP) or gdb's continue
  -gdb tcp::PORT|unix:PATH    gdbstub (docs/gdbstub.md); -s is -gdb tcp::1234
  -no-shutdown                a guest poweroff stops the machine instead of ending the run
  -name NAME -pidfile FILE -daemonize -D LOGFILE
  -version | -machine help | -cpu help | -device help | -device DRIVER,help | -d help | -chardev help
  -drive file=F[,if=none|virtio][,id=ID][,format=raw|qcow2][,readonly=on][,snapshot=on]
         [,cache=writeback|none|writethrough|directsync|unsafe][,discard=ignore|unmap]
  -hda F (-hdb..-hdd)  -snapshot  -blockdev driver=qcow2|raw|file,node-name=N,...
  -device NAME[,props]        (-device help lists devices; drive=ID attaches a drive)
  -netdev user,id=ID[,hostfwd=tcp:[hostaddr]:hostport-[guestaddr]:guestport]   (passt; see docs/net.md)
  -netdev stream,id=ID,server=on|off,addr.type=inet|unix,... | socket,id=ID,listen=|connect=HOST:PORT
  -nic user|stream|socket|none[,model=virtio-net-pci|virtio-net-device][,mac=MAC][,...]
  -fsdev local,id=ID,path=DIR,security_model=passthrough|mapped-file|none[,readonly=on]
  -virtfs local,path=DIR,mount_tag=TAG,security_model=..[,readonly=on]   (docs/sharing.md)
  -accel tcg[,thread=single|multi][,jit=on|off][,regions=on|off][,threaded=on|off]
  -icount shift=N             deterministic virtual clock: 2^N ns per instruction
  -d unimp,guest_errors       log guest errors to stderr
  -no-reboot                  exit when the guest resets
  -action panic=exit-failure|shutdown|none   on a Linux panic banner: exit 1 (default), exit 0, or go on
  -panic-delay S              seconds between the panic banner and the action (default 2)
Console: Ctrl-A x quits, Ctrl-A c switches to the monitor and back, Ctrl-A h helps (when stdin is a terminal).
With npm: npm start -- ARGS (npm keeps options like -m for itself otherwise).`;

function parse(argv: string[]): RunConfig {
  try {
    return parseRunArgs(argv);
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.message, 1);
    throw e;
  }
}

export async function runMachine(argv: string[], hooks: HostHooks = {}): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help') || argv.includes('-help')) {
    console.log(HELP);
    return 0;
  }
  const cfg = parse(argv);
  const ctl = cfg.control;
  if (ctl.help) {
    console.log(helpText(ctl.help.topic, ctl.help.driver));
    return 0;
  }
  if (ctl.daemonize && process.env[DAEMON_ENV] !== '1') {
    const stdio = cfg.serial.length === 0 || cfg.serial.some((s) => s.kind === 'new' && s.spec.backend === 'stdio') || ctl.chardevs.some((c) => c.backend === 'stdio');
    if (stdio) throw new UsageError('-daemonize: the console and monitors must not use stdio (give -serial file:|tcp:|unix:|none)', 1);
    return daemonize(argv);
  }
  if (cfg.devices.some((d) => d.driver === 'help')) {
    console.log(deviceHelp());
    return 0;
  }
  // -nic is a netdev plus the device in front of it.
  const netSpecs: NetdevSpec[] = [];
  try {
    for (const n of cfg.netdevs) netSpecs.push(parseNetdev(n));
    cfg.nics.forEach((text, i) => {
      const nic = parseNic(text, i);
      if (!nic) return;
      netSpecs.push(nic.netdev);
      cfg.devices.push(nic.device);
    });
    checkDeviceNames(cfg.devices.map((d) => d.driver));
  } catch (e) {
    if (e instanceof DeviceSpecError || e instanceof NetdevSpecError) throw new UsageError(e.message, 1);
    throw e;
  }
  const drives = new Map<string, Record<string, string>>();
  // -drive if=pflash[,unit=N] backs a flash bank (QEMU's virt takes two); the others go to devices.
  const pflash: ({ file: string; readOnly?: boolean } | undefined)[] = [];
  let nextPflash = 0;
  // Default ids as QEMU names them: interface and index (none0, virtio0, ...); virt's default interface is none.
  const nextIndex = new Map<string, number>();
  for (const d of cfg.drives) {
    if (d.if !== 'pflash') {
      const iface = d.if ?? 'none';
      const index = d.index !== undefined ? Number(d.index) : nextIndex.get(iface) ?? 0;
      nextIndex.set(iface, Math.max(nextIndex.get(iface) ?? 0, index + 1));
      const id = d.id ?? `${iface}${index}`;
      if (drives.has(id)) throw new UsageError(`-drive file=${d.file ?? ''}: drive id '${id}' is already in use`, 1);
      drives.set(id, d);
      continue;
    }
    const unit = d.unit !== undefined ? Number(d.unit) : nextPflash;
    if (!(unit === 0 || unit === 1) || pflash[unit]) throw new UsageError(`-drive if=pflash: unit ${d.unit ?? unit} is not a free flash bank (0 or 1)`, 1);
    if (!d.file) throw new UsageError('-drive if=pflash: missing file=', 1);
    if (d.format !== undefined && d.format !== 'raw') throw new UsageError(`-drive if=pflash: format '${d.format}' is not supported (raw only)`, 1);
    pflash[unit] = { file: d.file, readOnly: d.readonly === 'on' };
    nextPflash = unit + 1;
  }

  const blockdevIds = new Set<string>();
  try {
    for (const d of blockdevDrives(cfg.blockdevs.map(parseBlockdev))) {
      if (drives.has(d.id!)) throw new BlockError(`-blockdev node-name=${d.id}: the name is already used by a drive`);
      drives.set(d.id!, d);
      blockdevIds.add(d.id!);
    }
  } catch (e) {
    if (e instanceof BlockError) throw new UsageError(e.message, 1);
    throw e;
  }
  // Every drive's image is opened (and probed, and its backing chain followed) before the machine exists, as in QEMU.
  const backends = new Map<string, BlockBackend>();
  const closeBackends = async (): Promise<void> => {
    await Promise.all([...backends.values()].map((b) => b.close().catch(() => undefined)));
  };
  for (const [id, d] of drives) {
    const label = blockdevIds.has(id) ? `-blockdev node-name=${id}` : `-drive file=${d.file ?? ''}`;
    try {
      backends.set(id, await openBlockBackend(id, driveSpec(d, cfg.snapshot && !blockdevIds.has(id), label), { warn: (m) => process.stderr.write(`${m}\n`) }));
    } catch (e) {
      await closeBackends();
      if (e instanceof BlockError) throw new UsageError(e.message.startsWith(label) ? e.message : `${label}: ${e.message}`, 1);
      throw e;
    }
  }

  let gdbSpec: GdbListenSpec | null = null;
  try {
    if (cfg.gdb !== undefined) gdbSpec = parseGdbSpec(cfg.gdb);
  } catch (e) {
    if (e instanceof GdbSpecError) throw new UsageError(e.message, 1);
    throw e;
  }
  if (gdbSpec && cfg.accelThread === 'multi') throw new UsageError('-gdb needs -accel tcg,thread=single (the harts are debugged on the main loop)', 1);
  let gdb: ReturnType<typeof attachGdbStub> | null = null;
  let machine: VirtMachine | null = null;
  let netdevs = new Map<string, NetBackend>();
  const closeNetdevs = (): void => {
    for (const b of netdevs.values()) b.close();
  };
  const chardevs = new ChardevRegistry({ onQuit: () => machine?.quit(0, 'host-ui') });
  let backend: CharBackend | null = null;
  let control: ControlPlane | null = null;
  let removePidfile = (): void => {};
  const logger = ctl.logfile !== undefined ? fileLogger(ctl.logfile) : undefined;
  try {
    const wiring = setupChardevs(cfg, chardevs);
    backend = wiring.serial;
    if (cfg.panicAction !== 'none') {
      const code = cfg.panicAction === 'exit-failure' ? 1 : 0;
      const delay = cfg.panicDelay;
      backend = new PanicWatch(backend, () => {
        process.stderr.write(`\r\ntsvmm: guest kernel panic; ending the run with exit code ${code} in ${delay} s\r\n`);
        setTimeout(() => machine?.quit(code), delay * 1000);
      });
    }
    const threads = cfg.accelThread ?? (cfg.smp > 1 && cfg.icountShift === undefined && !gdbSpec ? 'multi' : 'single');
    // Hart realms start with the run; a worker's start under the budgets cost ~45 ms of CPU
    // against ~21 (bin/v8-flags.cjs), the machine's construction under V8's defaults ~8 ms.
    if (threads === 'single') hooks.runStarting?.();
    machine = new VirtMachine({
      ramSize: cfg.ramSize,
      smp: cfg.smp,
      clock: cfg.icountShift !== undefined ? { kind: 'virtual', nsPerInsn: 2 ** cfg.icountShift } : { kind: 'realtime' },
      log: cfg.log,
      noReboot: cfg.noReboot,
      debugLocks: cfg.debugLocks,
      iommuSys: cfg.iommuSys,
      serial: backend,
      pflash,
      // QEMU's default: MTTCG when there is more than one CPU and no -icount.
      threads,
      translate: cfg.accelJit,
      regions: cfg.accelRegions,
      threaded: cfg.accelThreaded,
      // With a debugger, -S is the stub's: the harts wait for gdb's continue.
      startPaused: ctl.startPaused && !gdbSpec,
      noShutdown: ctl.noShutdown,
      logger,
      onGuestStart: threads === 'multi' ? hooks.runStarting : undefined,
    });
    machine.boot({ bios: cfg.bios, kernel: cfg.kernel, initrd: cfg.initrd, dtb: cfg.dtb, append: cfg.append });
    // Backends start before the devices plug (passt missing fails here, before the guest runs).
    netdevs = await openNetdevs(netSpecs, (m) => process.stderr.write(`${m}\n`));
    const inventory = new DeviceInventory(machine, drives, chardevs, backends);
    inventory.ctx.netdevs = netdevs;
    inventory.ctx.fsdevs = new Map(cfg.fsdevs.map((f) => [f.id!, f] as const));
    inventory.plugAll(cfg.devices);
    inventory.record('virtio-blk-pci', {}, () => plugDriveShortcuts(inventory.ctx));
    for (const id of unclaimedDrives(inventory.ctx)) {
      process.stderr.write(
        `tsvmm: warning: drive ${id} (${drives.get(id)!.file ?? ''}) is not attached to any device; virt has no default disk interface (add if=virtio, or -device virtio-blk-device,drive=${id})\n`,
      );
    }
    control = startMonitors({ machine, chardevs, inventory, monitors: wiring.monitors, name: ctl.name });
    if (gdbSpec) {
      gdb = attachGdbStub(machine, gdbSpec, { startStopped: ctl.startPaused, log: (l) => process.stderr.write(l + '\n') });
      await gdb.server.listening;
    }
    await chardevs.ready((_e, addr) => process.stderr.write(`tsvmm: waiting for connection on ${addr},server\n`));
    if (ctl.pidfile !== undefined) removePidfile = writePidfile(ctl.pidfile);
    daemonReady();
  } catch (e) {
    control?.close();
    gdb?.server.close();
    chardevs.closeAll();
    await closeBackends();
    closeNetdevs();
    if (e instanceof GdbSpecError) throw new UsageError(e.message, 1);
    if (e instanceof BootError || e instanceof DeviceSpecError || e instanceof CharDevSpecError || e instanceof DeviceHotplugError || e instanceof NetdevSpecError) {
      throw new UsageError(e.message, 1);
    }
    throw e;
  }

  const onSignal = (): void => machine!.quit(0, 'host-signal');
  // QEMU ends the run on these signals with exit code 0; the console is restored on the way out.
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  process.once('SIGINT', onSignal);
  let code = 1;
  try {
    code = await machine!.run();
    return code;
  } finally {
    if (gdb) detachGdbStub(gdb, code);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGINT', onSignal);
    backend!.flush();
    control?.close();
    chardevs.flushAll();
    chardevs.closeAll();
    removePidfile();
    // Images are flushed and closed (a qcow2 gives back its unused allocation reserve).
    await closeBackends();
    closeNetdevs();
  }
}

export const command: Command = {
  name: 'run',
  summary: 'run a machine (QEMU-style options)',
  run: runMachine,
};
