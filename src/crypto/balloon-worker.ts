/**
 * Worker-thread entry for balloon-parallel.ts: computes the XOR of its share
 * of Balloon jobs and posts it back. Only ever loaded as a worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { balloonJobs, jobRange, type BalloonCost } from './balloon.js';

interface Share {
  passwd: Uint8Array;
  salt: Uint8Array;
  cost: BalloonCost;
  from: number;
  step: number;
}

const share = workerData as Share;
try {
  const xor = balloonJobs(share.passwd, share.salt, share.cost, jobRange(share.from, share.cost.p, share.step));
  parentPort!.postMessage({ xor });
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
} finally {
  share.passwd.fill(0);
}
