/**
 * QEMU's mux chardev: several frontends (the UART and the human monitor on
 * `-serial mon:stdio`) share one backend. Output from every frontend goes
 * out; input goes to the frontend with the focus, which Ctrl-A c moves on
 * (the stdio backend interprets the escape and calls `switchFocus`).
 */
import type { CharBackend, CharFrontend } from './chardev.js';

export type MuxEvent = 'focus-in' | 'focus-out';

/** A frontend on a mux may want to know when it gains or loses the input focus (the monitor prints its prompt). */
export interface MuxAwareFrontend extends CharFrontend {
  muxEvent?(e: MuxEvent): void;
}

class MuxPort implements CharBackend {
  frontend: MuxAwareFrontend | null = null;
  constructor(
    private readonly mux: MuxChardev,
    readonly index: number,
  ) {}
  attach(frontend: CharFrontend | null): void {
    this.frontend = frontend;
    if (frontend) frontend.event?.('opened');
    if (this.mux.focused === this.index) this.mux.inner.acceptInput();
  }
  write(byte: number): void {
    this.mux.inner.write(byte);
  }
  acceptInput(): void {
    if (this.mux.focused === this.index) this.mux.inner.acceptInput();
  }
  flush(): void {
    this.mux.inner.flush();
  }
  close(): void {
    this.frontend = null;
  }
}

export class MuxChardev implements CharFrontend {
  private readonly ports: MuxPort[] = [];
  focused = 0;

  constructor(readonly inner: CharBackend) {
    inner.attach(this);
  }

  /** A new frontend slot; the first one has the focus. */
  port(): CharBackend {
    const p = new MuxPort(this, this.ports.length);
    this.ports.push(p);
    return p;
  }

  get portCount(): number {
    return this.ports.length;
  }

  switchFocus(): void {
    if (this.ports.length < 2) return;
    this.ports[this.focused]?.frontend?.muxEvent?.('focus-out');
    this.focused = (this.focused + 1) % this.ports.length;
    this.ports[this.focused]?.frontend?.muxEvent?.('focus-in');
    this.inner.acceptInput();
  }

  /** Give the focus to a port (e.g. back to the guest console after the monitor's `cont`). */
  focus(index: number): void {
    while (this.focused !== index && this.ports.length > 1 && index < this.ports.length) this.switchFocus();
  }

  canReceive(): number {
    return this.ports[this.focused]?.frontend?.canReceive() ?? 0;
  }

  receive(bytes: Uint8Array): void {
    this.ports[this.focused]?.frontend?.receive(bytes);
  }

  event(e: 'opened' | 'closed'): void {
    for (const p of this.ports) p.frontend?.event?.(e);
  }
}
