/**
 * An interrupt line (QEMU's qemu_irq): a device drives it, an interrupt
 * controller (or a hart's mip bit) listens. Level-triggered.
 */
export interface IrqLine {
  set(level: boolean): void;
}

/** A line that goes nowhere; handy for devices whose interrupt is not wired. */
export const NO_IRQ: IrqLine = { set() {} };

/** A line that calls a function; the usual way a controller exposes an input pin. */
export function irqLine(fn: (level: boolean) => void): IrqLine {
  return { set: fn };
}
