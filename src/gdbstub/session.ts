/**
 * One debugger connection: framing and acknowledgements (packet.ts), and the
 * commands — registers, memory, breakpoints, watchpoints, resume, queries.
 * Run control (which harts run, why they stopped) belongs to the stub.
 */
import type { PhysMemory } from '../memory/types.js';
import { MEMTX_OK, memTxAttrs } from '../memory/types.js';
import type { Hart } from '../cpu/riscv/hart.js';
import { HartDebug, debugTranslate, type WatchKind } from '../cpu/riscv/debug.js';
import { DEFAULT_MAX_PACKET, PacketParser, encodePacket, type PacketEvent } from './packet.js';
import { G_REGS, type RegisterFile } from './registers.js';

export const SIGINT = 2;
export const SIGTRAP = 5;
/** Largest m/M/X transfer: the reply (two hex digits a byte) must fit the packet size gdb is told. */
const MAX_XFER = (DEFAULT_MAX_PACKET - 32) >> 1;

/** What a hart does on resume: continue, step one instruction, or stay stopped. */
export type Action = 'c' | 's' | null;

/** One connected debugger, as the transport sees it. */
export interface GdbSession {
  receive(bytes: Uint8Array): void;
  /** The transport closed (or failed). */
  closed(): void;
}

/** What a session needs of the stub. */
export interface RunControl {
  readonly machine: { readonly harts: readonly Hart[]; readonly mem: PhysMemory; quit(code: number): void };
  readonly isRunning: boolean;
  readonly stoppedHart: number;
  halt(signal: number): void;
  resume(actions: Action[]): void;
  stopReply(): string;
  regFile(hart: number): RegisterFile;
  detach(s: GdbSession): void;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** A little-endian hex encoding of the low `bytes` bytes of v. */
function leHex(v: bigint, bytes: number): string {
  let s = '';
  let x = BigInt.asUintN(bytes * 8, v);
  for (let i = 0; i < bytes; i++) {
    s += hex2(Number(x & 0xffn));
    x >>= 8n;
  }
  return s;
}

function parseLeHex(text: string): bigint | null {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(text)) return null;
  let v = 0n;
  for (let i = text.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(text.slice(i, i + 2), 16));
  return v;
}

function parseHex(text: string | undefined): bigint | null {
  if (text === undefined || !/^[0-9a-fA-F]{1,16}$/.test(text)) return null;
  return BigInt('0x' + text);
}

function hexBytes(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

const E_INVAL = 'E22';
const E_FAULT = 'E14';

/** One debugger connection: framing, acknowledgements and the commands. */
export class Session implements GdbSession {
  private readonly parser = new PacketParser();
  private noAck = false;
  private enterNoAck = false;
  private lastReply: Uint8Array | null = null;
  private gThread = 0;
  private physMode = false;
  private closedFlag = false;
  private readonly logged = new Set<string>();
  private readonly attrs = memTxAttrs({ requesterId: -1 });

  constructor(
    private readonly stub: RunControl,
    private readonly sendBytes: (b: Uint8Array) => void,
    private readonly closeTransport: () => void,
    private readonly log: (line: string) => void,
  ) {}

  private note(kind: string, line: string): void {
    if (this.logged.has(kind)) return;
    this.logged.add(kind);
    this.log(`tsvmm: gdbstub: ${line}`);
  }

  receive(bytes: Uint8Array): void {
    if (this.closedFlag) return;
    for (const ev of this.parser.feed(bytes)) this.event(ev);
  }

  closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.stub.detach(this);
  }

  private event(ev: PacketEvent): void {
    switch (ev.kind) {
      case 'ack':
        return;
      case 'nack':
        if (!this.noAck && this.lastReply) this.sendBytes(this.lastReply);
        return;
      case 'interrupt':
        if (this.stub.isRunning) {
          this.stub.halt(SIGINT);
          this.sendStopReply();
        }
        return;
      case 'error':
        this.note(ev.reason, `${ev.reason} packet from the debugger`);
        if (ev.reason === 'bad-checksum') {
          if (!this.noAck) this.sendBytes(Buffer.from('-'));
          return;
        }
        if (!this.noAck) this.sendBytes(Buffer.from('+'));
        this.reply('E01');
        return;
      case 'packet': {
        if (!this.noAck) this.sendBytes(Buffer.from('+'));
        const r = this.command(Buffer.from(ev.data).toString('latin1'), ev.data);
        if (r !== null) this.reply(r);
        if (this.enterNoAck) this.noAck = true;
        return;
      }
    }
  }

  private reply(text: string): void {
    if (this.closedFlag) return;
    const p = encodePacket(text);
    this.lastReply = p;
    this.sendBytes(p);
  }

  sendExit(code: number): void {
    if (this.closedFlag) return;
    this.reply(`W${hex2(code & 0xff)}`);
  }

  sendStopReply(): void {
    if (this.closedFlag) return;
    this.gThread = this.stub.stoppedHart;
    this.reply(this.stub.stopReply());
  }

  private get harts(): readonly Hart[] {
    return this.stub.machine.harts;
  }

  /** A thread id (hex; -1 all, 0 any) to a hart index, or null if there is no such thread. */
  private thread(text: string): number | 'all' | null {
    if (text === '-1') return 'all';
    if (text === '0') return 0;
    const n = parseHex(text.startsWith('p') ? text.split('.')[1] : text);
    if (n === null || n < 1n || n > BigInt(this.harts.length)) return null;
    return Number(n) - 1;
  }

  /** Handle one packet; null: no reply now (resume: the stop reply comes later). */
  private command(p: string, raw: Uint8Array): string | null {
    const stub = this.stub;
    if (stub.isRunning && p !== '?' && !p.startsWith('q') && !p.startsWith('Q')) {
      // gdb only talks to a running target to interrupt it; anything else waits for the stop.
      this.note('busy', `'${p.slice(0, 16)}' while the machine runs`);
      return E_INVAL;
    }
    switch (p[0]) {
      case '?':
        return stub.stopReply();
      case 'g':
        return this.readAllRegs();
      case 'G':
        return this.writeAllRegs(p.slice(1));
      case 'p':
        return this.readReg(p.slice(1));
      case 'P':
        return this.writeReg(p.slice(1));
      case 'm':
        return this.readMem(p.slice(1));
      case 'M':
        return this.writeMemHex(p.slice(1));
      case 'X':
        return this.writeMemBinary(raw);
      case 'c':
      case 's':
      case 'C':
      case 'S':
        return this.simpleResume(p);
      case 'v':
        return this.vPacket(p);
      case 'H': {
        const t = this.thread(p.slice(2));
        if (t === null) return E_INVAL;
        if (p[1] === 'g' && t !== 'all') this.gThread = t;
        return 'OK';
      }
      case 'T':
        return this.thread(p.slice(1)) === null ? E_INVAL : 'OK';
      case 'Z':
      case 'z':
        return this.breakpoint(p);
      case 'D':
        this.reply('OK');
        this.closed();
        this.closeTransport();
        return null;
      case 'k':
        this.closed();
        this.closeTransport();
        stub.machine.quit(0);
        return null;
      case 'q':
      case 'Q':
        return this.query(p);
      default:
        return '';
    }
  }

  private query(p: string): string {
    if (p.startsWith('qSupported')) {
      return `PacketSize=${DEFAULT_MAX_PACKET.toString(16)};qXfer:features:read+;vContSupported+;QStartNoAckMode+`;
    }
    if (p === 'QStartNoAckMode') {
      // Takes effect after this reply (which gdb still acknowledges).
      this.enterNoAck = true;
      return 'OK';
    }
    if (p.startsWith('qXfer:features:read:')) {
      const m = /^qXfer:features:read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
      if (!m) return E_INVAL;
      if (m[1] !== 'target.xml') return 'E00';
      const xml = this.stub.regFile(this.gThread).xml;
      const off = parseInt(m[2]!, 16);
      const len = Math.min(parseInt(m[3]!, 16), MAX_XFER);
      if (!(off >= 0) || !(len >= 0)) return E_INVAL;
      if (off >= xml.length) return 'l';
      const chunk = xml.slice(off, off + len);
      return (off + len >= xml.length ? 'l' : 'm') + chunk;
    }
    if (p === 'qC') return `QC${(this.gThread + 1).toString(16)}`;
    if (p === 'qfThreadInfo') return 'm' + this.harts.map((_, i) => (i + 1).toString(16)).join(',');
    if (p === 'qsThreadInfo') return 'l';
    if (p.startsWith('qThreadExtraInfo,')) {
      const t = this.thread(p.slice('qThreadExtraInfo,'.length));
      if (t === null || t === 'all') return E_INVAL;
      const state = this.stub.isRunning ? 'running' : 'halted ';
      return Buffer.from(`CPU#${t} [${state}]`).toString('hex');
    }
    if (p.startsWith('qAttached')) return '1';
    if (p === 'qqemu.PhyMemMode') return this.physMode ? '1' : '0';
    if (p.startsWith('Qqemu.PhyMemMode:')) {
      const v = p.slice('Qqemu.PhyMemMode:'.length);
      if (v !== '0' && v !== '1') return E_INVAL;
      this.physMode = v === '1';
      return 'OK';
    }
    if (p.startsWith('qSymbol')) return 'OK';
    return '';
  }

  private hart(): Hart {
    return this.harts[this.gThread]!;
  }

  private readAllRegs(): string {
    const h = this.hart();
    const rf = this.stub.regFile(this.gThread);
    let s = '';
    for (let n = 0; n < G_REGS; n++) s += leHex(rf.read(h, n)!, 8);
    return s;
  }

  private writeAllRegs(text: string): string {
    if (text.length !== G_REGS * 16) return E_INVAL;
    const h = this.hart();
    const rf = this.stub.regFile(this.gThread);
    const vals: bigint[] = [];
    for (let n = 0; n < G_REGS; n++) {
      const v = parseLeHex(text.slice(n * 16, n * 16 + 16));
      if (v === null) return E_INVAL;
      vals.push(v);
    }
    vals.forEach((v, n) => rf.write(h, n, v));
    return 'OK';
  }

  private readReg(text: string): string {
    const n = parseHex(text);
    if (n === null || n > 0xffffn) return E_INVAL;
    const rf = this.stub.regFile(this.gThread);
    const size = rf.size(Number(n));
    if (size === 0) return E_INVAL;
    return leHex(rf.read(this.hart(), Number(n)) ?? 0n, size);
  }

  private writeReg(text: string): string {
    const [num, val] = text.split('=');
    const n = parseHex(num);
    if (n === null || n > 0xffffn || val === undefined) return E_INVAL;
    const rf = this.stub.regFile(this.gThread);
    const size = rf.size(Number(n));
    const v = parseLeHex(val);
    if (size === 0 || v === null || val.length !== size * 2) return E_INVAL;
    return rf.write(this.hart(), Number(n), v) ? 'OK' : E_INVAL;
  }

  /** addr,len from "ADDR,LEN" (bounded), or null. */
  private range(text: string): { addr: bigint; len: number } | null {
    const [a, l] = text.split(',');
    const addr = parseHex(a);
    const len = parseHex(l);
    if (addr === null || len === null || len > BigInt(MAX_XFER)) return null;
    return { addr, len: Number(len) };
  }

  /** Physical address of a guest address under the current mode (-1: unmapped). */
  private phys(addr: bigint): number {
    if (this.physMode) return addr < 1n << 56n ? Number(addr) : -1;
    return debugTranslate(this.hart(), addr);
  }

  /** Copy guest memory page by page (through translation unless in physical mode); false on any fault. */
  private access(addr: bigint, buf: Uint8Array, write: boolean): boolean {
    const mem = this.stub.machine.mem;
    let done = 0;
    while (done < buf.length) {
      const va = BigInt.asUintN(64, addr + BigInt(done));
      const inPage = 4096 - Number(va & 0xfffn);
      const n = Math.min(inPage, buf.length - done);
      const pa = this.phys(va);
      if (pa < 0) return false;
      // RAM and ROM directly (a debugger may write ROM, as QEMU's does); devices a byte at a time.
      const rp = mem.ramPtr(pa, n, false);
      if (rp !== null) {
        if (write) rp.bytes.set(buf.subarray(done, done + n), rp.offset);
        else buf.set(rp.bytes.subarray(rp.offset, rp.offset + n), done);
      } else {
        for (let i = 0; i < n; i++) {
          if (write) {
            if (mem.store(pa + i, 1, buf[done + i]!, 0, this.attrs) !== MEMTX_OK) return false;
          } else {
            if (mem.load(pa + i, 1, this.attrs) !== MEMTX_OK) return false;
            buf[done + i] = mem.valLo & 0xff;
          }
        }
      }
      done += n;
    }
    return true;
  }

  private readMem(text: string): string {
    const r = this.range(text);
    if (r === null) return E_INVAL;
    const buf = new Uint8Array(r.len);
    return this.access(r.addr, buf, false) ? hexBytes(buf) : E_FAULT;
  }

  private writeMemHex(text: string): string {
    const colon = text.indexOf(':');
    if (colon < 0) return E_INVAL;
    const r = this.range(text.slice(0, colon));
    const data = text.slice(colon + 1);
    if (r === null || data.length !== r.len * 2 || (r.len > 0 && !/^[0-9a-fA-F]+$/.test(data))) return E_INVAL;
    return this.access(r.addr, Buffer.from(data, 'hex'), true) ? 'OK' : E_FAULT;
  }

  private writeMemBinary(raw: Uint8Array): string {
    const colon = raw.indexOf(0x3a);
    if (colon < 0) return E_INVAL;
    const r = this.range(Buffer.from(raw.subarray(1, colon)).toString('latin1'));
    const data = raw.subarray(colon + 1);
    if (r === null || data.length !== r.len) return E_INVAL;
    if (r.len === 0) return 'OK'; // gdb's probe for X support
    return this.access(r.addr, data.slice(), true) ? 'OK' : E_FAULT;
  }

  /** c/s/C/S [addr]: resume every hart; a step steps the selected one while the others stay stopped. */
  private simpleResume(p: string): string | null {
    const step = p[0] === 's' || p[0] === 'S';
    const args = p.slice(1);
    const addrText = p[0] === 'C' || p[0] === 'S' ? args.split(';')[1] : args;
    if (addrText) {
      const a = parseHex(addrText);
      if (a === null) return E_INVAL;
      this.hart().pc = Number(BigInt.asIntN(64, a));
    }
    const actions: Action[] = this.harts.map((_, i) => (step ? (i === this.gThread ? 's' : null) : 'c'));
    this.stub.resume(actions);
    return null;
  }

  private vPacket(p: string): string | null {
    if (p === 'vCont?') return 'vCont;c;C;s;S';
    if (p === 'vMustReplyEmpty') return '';
    if (p.startsWith('vCont;')) {
      const actions: Action[] = this.harts.map(() => null);
      for (const part of p.slice(6).split(';')) {
        const [act, tid] = part.split(':');
        const kind = act?.[0];
        if (kind !== 'c' && kind !== 's' && kind !== 'C' && kind !== 'S') return E_INVAL;
        const a: Action = kind === 'c' || kind === 'C' ? 'c' : 's';
        // Leftmost action wins for a thread (the protocol's rule).
        if (tid === undefined || tid === '-1') {
          for (let i = 0; i < actions.length; i++) if (actions[i] === null) actions[i] = a;
        } else {
          const t = this.thread(tid);
          if (t === null) return E_INVAL;
          if (t === 'all') actions.fill(a);
          else if (actions[t] === null) actions[t] = a;
        }
      }
      if (actions.every((a) => a === null)) return E_INVAL;
      this.stub.resume(actions);
      return null;
    }
    return '';
  }

  /** Z/z TYPE,ADDR,KIND: inserted into (removed from) every hart, as QEMU does in system mode. */
  private breakpoint(p: string): string {
    const insert = p[0] === 'Z';
    const [type, a, k] = p.slice(1).split(/[,;]/);
    const addr = parseHex(a);
    const kind = parseHex(k);
    if (addr === null || kind === null || kind > 0xffn) return E_INVAL;
    const len = Number(kind);
    const harts = this.harts.map((h) => HartDebug.of(h));
    switch (type) {
      case '0':
      case '1': {
        const hw = type === '1';
        let ok = true;
        for (const d of harts) ok = (insert ? d.insertBreak(addr, hw) : d.removeBreak(addr, hw)) && ok;
        return ok || !insert ? 'OK' : E_INVAL;
      }
      case '2':
      case '3':
      case '4': {
        const wk: WatchKind = type === '2' ? 'write' : type === '3' ? 'read' : 'access';
        if (len < 1) return E_INVAL;
        let ok = true;
        for (const d of harts) ok = (insert ? d.insertWatch(addr, len, wk) : d.removeWatch(addr, len, wk)) && ok;
        if (!ok && insert) {
          for (const d of harts) d.removeWatch(addr, len, wk);
          return E_INVAL;
        }
        return 'OK';
      }
      default:
        return '';
    }
  }
}
