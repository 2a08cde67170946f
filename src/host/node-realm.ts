/** The worker side of a realm on Node (worker_threads): see RealmEndpoint. */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort as NodePort } from 'node:worker_threads';
import type { RealmEndpoint } from './types.js';
import { hostLog } from './log.js';

export function nodeRealmEndpoint<D>(): RealmEndpoint<D> {
  return {
    data: workerData as D,
    post: (m) => parentPort?.postMessage(m),
    receiveNow: (port) => receiveMessageOnPort(port as unknown as NodePort)?.message,
    // receiveMessageOnPort sees every message already posted: there is never anything to wait for.
    waitForMessage: () => Promise.resolve(),
    onExit: (fn) => void process.on('exit', fn),
    exit: (code) => {
      process.exitCode = code;
    },
    log: hostLog,
  };
}
