import type { FuzzTarget } from '../target.js';
import virtqueue from './virtqueue.js';
import fwCfg from './fw-cfg.js';

/** Every fuzz target, by name. */
export const TARGETS: readonly FuzzTarget[] = [virtqueue, fwCfg];
