/** The channel subsystem's public surface (see docs/css.md). */
export * from './bits.js';
export * from './schib.js';
export * from './guest-memory.js';
export * from './work-queue.js';
export * from './channel-program.js';
export * from './subchannel.js';
export * from './css.js';
export * from './store-device.js';
export * from './host-subchannel.js';
export * from './vfio-ccw.js';
