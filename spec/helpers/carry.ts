/** What the carry tests share: two nodes, a stick, `pigeon carry` runs and what to look at afterwards. */
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { carry, carrySummary, type CarryOptions, type CarryResult } from '../../src/xfer/carry.js';
import { capturingContext, makeNodes, type Generator, type MakeNodesOptions, type TestNode } from './nncp.js';
import { queueFile } from './packets.js';
import { listFiles, packetIds, runPigeon, tmpDir, type RunResult } from './util.js';

export interface Pair {
  dir: string;
  alice: TestNode;
  bob: TestNode;
  stick: string;
}

export async function pair(t: ExecutionContext, opts: MakeNodesOptions & { generator?: Generator } = {}): Promise<Pair> {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon', ...opts });
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(stick);
  return { dir, alice, bob, stick };
}

/** `pigeon carry` for a node (no fsync: NNCPNOSYNC), with extra environment (PIGEON_KILLPOINT). */
export function carryCli(p: Pair, node: TestNode, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runPigeon(['carry', '-cfg', node.cfgPath, '-noprogress', ...flags, p.stick], { env: { NNCPNOSYNC: '1', ...env } });
}

/** Packets queued in `node`'s tx/ for `peer`. */
export function txOf(node: TestNode, peer: TestNode): string[] {
  return packetIds(path.join(node.spool, peer.idB32, 'tx'));
}

/** ACK markers in `node`'s tx/ack/ for `peer`. */
export function ackMarks(node: TestNode, peer: TestNode): string[] {
  return packetIds(path.join(node.spool, peer.idB32, 'tx', 'ack'));
}

/** Packets left in `node`'s rx/ from `peer`. */
export function rxOf(node: TestNode, peer: TestNode): string[] {
  return packetIds(path.join(node.spool, peer.idB32, 'rx'));
}

/** Every file on the stick (relative paths). */
export function stickFiles(p: Pair): string[] {
  return listFiles(p.stick);
}

/** Files in a node's incoming directory (delivered files; a duplicate shows as NAME.0). */
export function incoming(node: TestNode): string[] {
  return listFiles(node.incoming);
}

let fileCount = 0;

/** Queue files (in-process), returns their names and contents. */
export async function sendFiles(from: TestNode, to: TestNode, sizes: number[]): Promise<Map<string, Buffer>> {
  const { ctx } = await capturingContext(from.cfgPath);
  const files = new Map<string, Buffer>();
  for (const size of sizes) {
    const name = `${from.name}-${++fileCount}.bin`;
    files.set(name, (await queueFile(ctx, to.name, name, size)).data);
  }
  return files;
}

/** carry in-process (no fsync), for the runs a test does not kill. */
export async function carryIn(p: Pair, node: TestNode, opts: Omit<CarryOptions, 'dir'> = {}): Promise<CarryResult & { stderr: string }> {
  const { ctx, stderr } = await capturingContext(node.cfgPath);
  const r = await carry(ctx, { dir: p.stick, ...opts });
  return { ...r, stderr: stderr() };
}

/** carry in-process; the test fails unless it went without errors. Returns its summary line. */
export async function visit(t: ExecutionContext, p: Pair, node: TestNode, opts: Omit<CarryOptions, 'dir'> = {}): Promise<string> {
  const r = await carryIn(p, node, opts);
  t.true(r.ok, `${node.name} carry: ${r.stderr}`);
  return carrySummary(r);
}

/** Each file delivered exactly once (no NAME.0 duplicates), intact. */
export function deliveredOnce(t: ExecutionContext, node: TestNode, files: Map<string, Buffer>): void {
  t.deepEqual(incoming(node), [...files.keys()].sort(), 'each file delivered exactly once');
  for (const [name, data] of files) t.true(fs.readFileSync(path.join(node.incoming, name)).equals(data), `${name} intact`);
}
