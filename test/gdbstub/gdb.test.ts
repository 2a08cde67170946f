/**
 * The gdbstub with Debian's gdb-multiarch against Debian's M-mode U-Boot,
 * and a raw protocol client feeding it bad input. One boot per test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestConsole } from '../helpers/console.js';

const UBOOT_ARGS = ['-M', 'virt', '-m', '256M', '-nographic'];
/** U-Boot's start code loads the address of its `hart_lottery` word from this GOT slot, then amoswaps 1 into it. */
const LOTTERY_GOT = '0x80084c98';

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('gdb-multiarch: attach to a paused machine, break, step, registers, memory, a hardware watchpoint, continue to the prompt', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdb-'));
  const sock = join(dir, 'gdb.sock');
  const vm = GuestConsole.run([...UBOOT_ARGS, '-S', '-gdb', `unix:${sock}`]);
  let gdb: GuestConsole | null = null;
  try {
    await waitFor(() => existsSync(sock), 'the gdb socket');
    const script = join(dir, 'session.gdb');
    writeFileSync(
      script,
      [
        'set pagination off',
        'set confirm off',
        `target remote ${sock}`,
        'info registers pc',
        'x/3i $pc',
        'break *0x80000000',
        'continue',
        'stepi',
        'info registers pc a0 a1',
        'p/x $mhartid',
        'p $priv',
        `x/gx ${LOTTERY_GOT}`,
        `set $lot = *(long *)${LOTTERY_GOT}`,
        'watch *(int *)$lot',
        'continue',
        'delete',
        'info threads',
        'echo CONTINUING-TO-PROMPT\\n',
        'continue',
        'info registers pc',
        'detach',
        '',
      ].join('\n'),
    );
    gdb = GuestConsole.spawn('gdb-multiarch', ['-nx', '-batch', '-x', script]);
    // Paused at the reset vector in the mask ROM.
    await gdb.expect(/pc\s+0x1000\s/);
    await gdb.expect(/0x1000:\s+auipc\s+t0,0x0/);
    await gdb.expect(/Breakpoint 1, 0x0*80000000 in/);
    // One instruction (csrr a0, mhartid) later: a0 = hart 0, a1 = the device tree the ROM passed.
    const regs = await gdb.expect(/a1\s+0x[0-9a-f]+[^\n]*\n/);
    assert.match(regs, /pc\s+0x80000004\s/);
    assert.match(regs, /a0\s+0x0\s/);
    assert.match(regs, /a1\s+0x8fe00000\s/);
    await gdb.expect(/\$1 = 0x0\n/);
    await gdb.expect(/\$2 = (prv:)?3/);
    await gdb.expect(/0x80084c98:\s+0x0000000080077fdc/);
    // The amoswap into hart_lottery trips the hardware watchpoint; gdb shows the state after it, as with QEMU.
    await gdb.expect(/Hardware watchpoint 2: \*\(int \*\)\$lot\s+Old value = 0\s+New value = 1\s+0x0*80000056 in/);
    await gdb.expect(/Thread 1 \(CPU#0 \[halted \]\)/);
    await gdb.expect('CONTINUING-TO-PROMPT');
    assert.equal(vm.output, '', 'nothing ran before the continue');
    await vm.expect(/Hit any key to stop autoboot/);
    vm.send(' ');
    await vm.expect(/=> /);
    // gdb's Ctrl-C stops the machine where it is; detach lets the guest go on.
    gdb.proc.kill('SIGINT');
    await gdb.expect(/SIGINT|Interrupt/);
    await gdb.expect(/pc\s+0x[0-9a-f]+/);
    await gdb.expect(/Detaching|detached/);
    assert.equal(await gdb.exitCode(), 0, gdb.stderr);
    vm.line('version');
    await vm.expect(/U-Boot 2023\.01[\s\S]*=> /);
    vm.line('poweroff');
    assert.equal(await vm.exited, 0, vm.stderr);
    assert.equal(vm.stderr, '');
  } finally {
    gdb?.kill();
    vm.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A raw protocol client: frames requests and reads replies (acks kept apart). */
class RawClient {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  static async open(port: number): Promise<RawClient> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => {
      s.once('connect', r);
      s.once('error', j);
    });
    return new RawClient(s);
  }
  sendRaw(text: string): void {
    this.sock.write(Buffer.from(text, 'latin1'));
  }
  send(body: string): void {
    let sum = 0;
    for (const c of Buffer.from(body, 'latin1')) sum += c;
    this.sendRaw(`$${body}#${(sum & 0xff).toString(16).padStart(2, '0')}`);
  }
  /** The next raw bytes matching `re` at the start of what is buffered. */
  async next(re: RegExp, ms = 30_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const m = new RegExp('^(?:' + re.source + ')').exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.closed) throw new Error(`connection closed; buffered: ${JSON.stringify(this.buf)}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; buffered: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  /** Send a request and return its reply's payload (after the ack). */
  async ask(body: string): Promise<string> {
    this.send(body);
    await this.next(/\+/);
    const p = await this.next(/\$[^#]*#[0-9a-f]{2}/);
    this.sendRaw('+');
    return p.slice(1, -3);
  }
}

test('bad input from a debugger gets protocol errors; a disconnect lets the guest run on', { timeout: 240_000 }, async () => {
  const port = await freePort();
  const vm = GuestConsole.run([...UBOOT_ARGS, '-gdb', `tcp::${port}`]);
  try {
    await vm.expect(/U-Boot 2023\.01/);
    let c: RawClient | null = null;
    await waitFor(() => vm.output.length > 0, 'output');
    c = await RawClient.open(port);
    // Attaching stops the machine.
    assert.match(await c.ask('?'), /^T05thread:1;$/);
    // A second debugger is turned away while the first is attached.
    const second = await RawClient.open(port);
    await waitFor(() => second.closed, 'the second connection to close', 10_000);
    // Bad checksum: a nack, nothing executed.
    c.sendRaw('$g#00');
    assert.equal(await c.next(/-/), '-');
    // An absurdly long packet: dropped, answered with an error.
    c.sendRaw('$' + 'A'.repeat(100_000) + '#00');
    assert.equal(await c.next(/\+/), '+');
    assert.equal((await c.next(/\$[^#]*#[0-9a-f]{2}/)).slice(1, -3), 'E01');
    c.sendRaw('+');
    // Absurd lengths and addresses inside well-formed packets.
    assert.equal(await c.ask('m80000000,ffffffffffff'), 'E22');
    assert.equal(await c.ask('m4000000000,8'), 'E14');
    assert.equal(await c.ask('mffffffffffffffff,10'), 'E14');
    assert.equal(await c.ask('M80000000,4:zz'), 'E22');
    assert.equal(await c.ask('p99999'), 'E22');
    assert.equal(await c.ask('Hgff'), 'E22');
    assert.equal(await c.ask('Z2,80000000,0'), 'E22');
    // Unknown packets: the empty reply.
    assert.equal(await c.ask('qNoSuchThing'), '');
    assert.equal(await c.ask('Z9,0,0'), '');
    assert.equal(await c.ask('!'), '');
    // The stub still works: RAM reads, and physical mode reaching the mask ROM's reset vector.
    assert.match(await c.ask('m80000000,4'), /^7325[0-9a-f]{4}$/);
    assert.equal(await c.ask('Qqemu.PhyMemMode:1'), 'OK');
    assert.equal(await c.ask('m1000,4'), '97020000');
    // Vanish mid-conversation, with a breakpoint set and half a packet sent.
    assert.equal(await c.ask('Z0,80000000,4'), 'OK');
    c.sendRaw('$m8000');
    c.sock.destroy();
    await vm.expect(/Hit any key to stop autoboot/);
    vm.send(' ');
    await vm.expect(/=> /);
    // A new debugger can attach and detach; the guest keeps running.
    c = await RawClient.open(port);
    assert.match(await c.ask('?'), /^T05thread:1;$/);
    assert.equal(await c.ask('D'), 'OK');
    await waitFor(() => c!.closed, 'the stub to close after detach', 10_000);
    // One that vanishes while the guest runs leaves it running.
    c = await RawClient.open(port);
    assert.match(await c.ask('?'), /^T05thread:1;$/);
    c.send('vCont;c');
    await c.next(/\+/);
    c.sock.destroy();
    vm.line('version');
    await vm.expect(/U-Boot 2023\.01[\s\S]*=> /);
    // One attached when the guest powers off hears the exit code (QEMU's W packet).
    c = await RawClient.open(port);
    assert.match(await c.ask('?'), /^T05thread:1;$/);
    c.send('c');
    await c.next(/\+/);
    vm.line('poweroff');
    assert.equal(await c.next(/\$W00#b7/), '$W00#b7');
    assert.equal(await vm.exited, 0, vm.stderr);
    assert.match(vm.stderr, /bad-checksum packet from the debugger/);
  } finally {
    vm.kill();
  }
});
