/** Browser entry of a hart realm (bundled as hart-worker.js by scripts/web.mjs): see src/machine/smp/hart-realm.ts. */
import { startBrowserRealm } from '../host/browser-realm.js';
import { runHartRealm, type HartWorkerData } from '../machine/smp/hart-realm.js';

startBrowserRealm<HartWorkerData>(runHartRealm);
