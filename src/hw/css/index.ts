/**
 * The channel subsystem's public surface (see docs/css.md): a model of the
 * s390 channel subsystem and of vfio-ccw pass-through, for seed 003. No
 * machine here builds it; `tsvmm run` never runs it.
 */
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
export * from './vfio-ccw-backend.js';
export * from './vfio-ccw-passthrough.js';
