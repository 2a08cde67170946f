/** Node entry of a hart realm (a worker thread): see hart-realm.ts. */
import { nodeRealmEndpoint } from '../../host/node-realm.js';
import { runHartRealm, type HartWorkerData } from './hart-realm.js';

await runHartRealm(nodeRealmEndpoint<HartWorkerData>());
