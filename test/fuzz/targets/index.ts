import type { FuzzTarget } from '../target.js';
import virtqueue from './virtqueue.js';
import fwCfg from './fw-cfg.js';
import loaders from './loaders.js';
import pciConfig from './pci-config.js';
import { virtioMmio, virtioPci } from './virtio-regs.js';

/** Every fuzz target, by name. */
export const TARGETS: readonly FuzzTarget[] = [virtqueue, virtioMmio, virtioPci, fwCfg, pciConfig, loaders];
