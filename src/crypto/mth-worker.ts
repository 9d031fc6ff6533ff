/**
 * Entry of the MTH worker threads (mth.ts leavesInWorkers and MthWorker
 * start them with this file): hand workerData to mth.ts.
 */
import { workerData } from 'node:worker_threads';
import { mthWorkerMain } from './mth.js';

mthWorkerMain(workerData);
