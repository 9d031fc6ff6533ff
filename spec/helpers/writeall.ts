/** Shared check of writeAllAt (native and fallback processes each run it). */
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeAllAt } from '../../src/spool/atomic.js';

export async function checkWriteAllAt(t: ExecutionContext): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-wa-'));
  try {
    const file = path.join(dir, 'f');
    const fh = await open(file, 'w+');
    const a = randomBytes((1 << 20) + 7);
    const b = randomBytes(100_000);
    await writeAllAt(fh.fd, a, 100);
    await writeAllAt(fh.fd, b, 100 + a.length, true); // the writeback hint changes nothing of what is written
    await writeAllAt(fh.fd, new Uint8Array(0), 5);
    await fh.close();
    const got = readFileSync(file);
    t.is(got.length, 100 + a.length + b.length);
    t.true(got.subarray(100, 100 + a.length).equals(a));
    t.true(got.subarray(100 + a.length).equals(b));
    t.true(got.subarray(0, 100).equals(Buffer.alloc(100)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
