/** tsvmm as a library: see docs/web.md (Node and browser). */
export { createMachine, type CreateMachineOptions, type ImageInput, type Machine } from './machine/create.js';
export { BootError, VirtMachine, DEFAULT_UBOOT } from './machine/virt/virt.js';
export { MemoryBlockDriver } from './block/memory.js';
export type { BlockDriver } from './block/driver.js';
export type { HostServices, HostFiles } from './host/types.js';
export { defaultHost } from './host/default.js';
// In a web page: where the hart worker bundle is (built from 'tsvmm/web/hart-worker'), and images by name.
export { browserFiles, browserHost, setRealmWorkerUrl } from './host/browser.js';
