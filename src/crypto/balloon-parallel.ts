/**
 * Balloon H with its jobs spread over threads, as the reference runs them
 * (one goroutine each): with P jobs and C cores, min(P, C) threads, this one
 * and worker threads, each running its share of jobs in turn in its own
 * s·32-byte arena. Wall time falls by up to that factor; memory is one arena
 * per thread (the reference holds one per job). Workers exist only during
 * the call.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { balloonFinish, balloonJobs, costFault, jobRange, type BalloonCost } from './balloon.js';

function runShare(passwd: Uint8Array, salt: Uint8Array, cost: BalloonCost, from: number, step: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./balloon-worker.js', import.meta.url), {
      workerData: { passwd: Uint8Array.from(passwd), salt: Uint8Array.from(salt), cost, from, step },
    });
    let settled = false;
    w.once('message', (m: { xor?: Uint8Array; error?: string }) => {
      settled = true;
      if (m.xor) resolve(m.xor);
      else reject(new Error(`balloon worker: ${m.error}`));
    });
    w.once('error', (err) => {
      settled = true;
      reject(err);
    });
    w.once('exit', (code) => {
      if (!settled) reject(new Error(`balloon worker exited with code ${code} before answering`));
    });
  });
}

/** H(passwd, salt, s, t, p) on up to `threads` threads (default: the cores available). */
export async function balloonHParallel(passwd: Uint8Array, salt: Uint8Array, cost: BalloonCost, threads = availableParallelism()): Promise<Uint8Array> {
  const fault = costFault(cost);
  if (fault) throw new RangeError(fault);
  const n = Math.max(1, Math.min(cost.p, threads));
  // Workers start first, then this thread takes job 0, n, 2n, … meanwhile.
  // A worker that cannot start or fails leaves its share to this thread.
  const others = Array.from({ length: n - 1 }, (_, k) =>
    runShare(passwd, salt, cost, k + 1, n).catch(() => balloonJobs(passwd, salt, cost, jobRange(k + 1, cost.p, n))),
  );
  const parts = [balloonJobs(passwd, salt, cost, jobRange(0, cost.p, n))];
  try {
    parts.push(...(await Promise.all(others)));
    const xor = new Uint8Array(32);
    for (const p of parts) for (let i = 0; i < 32; i++) xor[i] ^= p[i];
    try {
      return balloonFinish(passwd, salt, xor);
    } finally {
      xor.fill(0);
    }
  } finally {
    for (const p of parts) p.fill(0);
  }
}
