// Worker entry shim: workers start without the parent's loader hooks, so
// register tsx here, then load the TypeScript entry named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
