/**
 * vfio-ccw's FSM as data: its states, events and actions, the state x event
 * table (facts from Linux's table, not its code), the return codes user space
 * sees, and the record of one step. VfioCcw (vfio-ccw.ts) performs the actions.
 */
import type { HostTsch } from './host-subchannel.js';
import type { Orb } from './schib.js';

export const VFIO_CCW_STATES = ['NOT_OPER', 'STANDBY', 'IDLE', 'CP_PROCESSING', 'CP_PENDING'] as const;
export type VfioCcwState = (typeof VFIO_CCW_STATES)[number];
export const VFIO_CCW_EVENTS = ['NOT_OPER', 'IO_REQ', 'INTERRUPT', 'ASYNC_REQ', 'OPEN', 'CLOSE'] as const;
export type VfioCcwEvent = (typeof VFIO_CCW_EVENTS)[number];
export type VfioCcwAction =
  | 'nop'
  | 'notoper'
  | 'io_error'
  | 'io_request'
  | 'io_retry'
  | 'io_busy'
  | 'async_error'
  | 'async_request'
  | 'async_retry'
  | 'irq'
  | 'disabled_irq'
  | 'open'
  | 'close';

/** The FSM: every state x event pair names its action (facts from Linux's table, not its code). */
export const VFIO_CCW_JUMPTABLE: Readonly<Record<VfioCcwState, Readonly<Record<VfioCcwEvent, VfioCcwAction>>>> = Object.freeze({
  NOT_OPER: { NOT_OPER: 'nop', IO_REQ: 'io_error', INTERRUPT: 'disabled_irq', ASYNC_REQ: 'async_error', OPEN: 'nop', CLOSE: 'nop' },
  STANDBY: { NOT_OPER: 'notoper', IO_REQ: 'io_error', INTERRUPT: 'disabled_irq', ASYNC_REQ: 'async_error', OPEN: 'open', CLOSE: 'notoper' },
  IDLE: { NOT_OPER: 'notoper', IO_REQ: 'io_request', INTERRUPT: 'irq', ASYNC_REQ: 'async_request', OPEN: 'notoper', CLOSE: 'close' },
  CP_PROCESSING: { NOT_OPER: 'notoper', IO_REQ: 'io_retry', INTERRUPT: 'irq', ASYNC_REQ: 'async_retry', OPEN: 'notoper', CLOSE: 'close' },
  CP_PENDING: { NOT_OPER: 'notoper', IO_REQ: 'io_busy', INTERRUPT: 'irq', ASYNC_REQ: 'async_request', OPEN: 'notoper', CLOSE: 'close' },
});

/** Return codes on the user-space interface (negative errno values, as the region writes give them). */
export const VFIO_OK = 0;
export const EIO = -5;
export const EAGAIN = -11;
export const EBUSY = -16;
export const ENODEV = -19;
export const EINVAL = -22;

export interface FsmResult {
  readonly from: VfioCcwState;
  readonly event: VfioCcwEvent;
  readonly action: VfioCcwAction;
  readonly to: VfioCcwState;
  readonly ret: number;
  /** Generation of the request this step had the host accept (0: none). */
  readonly gen: number;
}

export type VfioEventArg =
  | { readonly orb: Orb; readonly stopAfterTranslate?: boolean }
  | { readonly cmd: 'halt' | 'clear' }
  | { readonly tsch: HostTsch }
  | undefined;
