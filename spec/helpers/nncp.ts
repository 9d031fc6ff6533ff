/**
 * The test lab: sets of nodes that know each other, each with its own
 * spool, log, incoming and freq directories and a saved configuration, with
 * keys made by the reference (`nncp-cfgnew`) or by pigeon in-process (the
 * same renderer and loader `pigeon cfgnew` uses, no process started); and
 * contexts to work in them from the library.
 *
 * Kept under this name (not lab.ts) because every interop spec imports it;
 * programs, waiting, ports and files are in ./util.ts, packets in ./packets.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { base32Encode } from '../../src/codec/base32.js';
import { renderNewConfig } from '../../src/config/cfgnew.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import type { SelfNode } from '../../src/config/types.js';
import { makeContext, type Context } from '../../src/context.js';
import { generateNodeKeys } from '../../src/crypto/keys.js';
import { Logger } from '../../src/log/log.js';
import { Spool } from '../../src/spool/spool.js';
import { runNncp, tmpDir } from './util.js';

// Spec files written before util.ts existed import these from here.
export { haveNncp, nncpDir, PIGEON_JS, requireNncp, runNncp, runPigeon, startNncp, tmpDir, type RunOptions, type RunResult } from './util.js';

export type Generator = 'nncp' | 'pigeon';

export interface TestNode {
  name: string;
  /** Which program generated its keys. */
  generator: Generator;
  /** Its own directory: DIR/NAME. */
  dir: string;
  cfgPath: string;
  spool: string;
  log: string;
  /** Where files from any neighbour (and from itself) land. */
  incoming: string;
  /** What neighbours may freq from. */
  freqDir: string;
  keys: SelfNode;
  idB32: string;
  /** The configuration object written to cfgPath; change it and call saveNode(). */
  raw: Record<string, any>;
}

export interface MakeNodesOptions {
  /** Who generates the keys: one program for all, or per node name (default 'nncp'). */
  generator?: Generator | Record<string, Generator>;
  /** exec handles each node allows its neighbours; default { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'] }. */
  exec?: Record<string, string[]>;
  /** Extra fields for neigh.NEIGH in OWNER's configuration (e.g. via, calls, addrs). */
  neighExtra?: (owner: string, neigh: string) => Record<string, unknown>;
  /** Extra top-level fields for OWNER's configuration. */
  topExtra?: (owner: string) => Record<string, unknown>;
  /** Change the configurations (node.raw) before they are first saved. */
  edit?: (nodes: Record<string, TestNode>) => void;
}

/** A node's keys, as `GENERATOR cfgnew -nocomments` prints them, read back by pigeon's loader. */
async function newKeys(generator: Generator): Promise<SelfNode> {
  let text: string;
  if (generator === 'pigeon') text = renderNewConfig(generateNodeKeys(), { noComments: true });
  else {
    const res = await runNncp('nncp-cfgnew', ['-nocomments']);
    if (res.code !== 0) throw new Error(`nncp cfgnew failed (${res.code}): ${res.stderr.trim()}`);
    text = res.stdout.toString('utf8');
  }
  return parseConfigText(text, `${generator} cfgnew output`, { env: {}, needSelf: true }).self!;
}

/** A node's public keys, as a neigh entry. */
function publicEntry(k: SelfNode): Record<string, string> {
  return { id: k.idB32, exchpub: base32Encode(k.exchPub), signpub: base32Encode(k.signPub), noisepub: base32Encode(k.noisePub) };
}

/** A node's self section: all its keys. */
function selfEntry(k: SelfNode): Record<string, string> {
  const pub = publicEntry(k);
  return { id: pub.id, exchpub: pub.exchpub, exchprv: base32Encode(k.exchPrv), signpub: pub.signpub, signprv: base32Encode(k.signPrv), noisepub: pub.noisepub, noiseprv: base32Encode(k.noisePrv) };
}

/**
 * Make nodes that all know each other: keys from `nncp-cfgnew -nocomments`
 * or pigeon's cfgnew (in-process), each with its own spool, log, incoming
 * and freq directories under DIR/NAME, every other node in `neigh` (with
 * incoming, exec and freq.path set), and itself as `self`.
 */
export async function makeNodes(dir: string, names: readonly string[], opts: MakeNodesOptions = {}): Promise<Record<string, TestNode>> {
  const nodes: Record<string, TestNode> = {};
  for (const name of names) {
    const generator = typeof opts.generator === 'object' ? opts.generator[name] ?? 'nncp' : opts.generator ?? 'nncp';
    const keys = await newKeys(generator);
    const nodeDir = path.join(dir, name);
    const node: TestNode = {
      name,
      generator,
      dir: nodeDir,
      cfgPath: path.join(nodeDir, 'cfg.hjson'),
      spool: path.join(nodeDir, 'spool'),
      log: path.join(nodeDir, 'log'),
      incoming: path.join(nodeDir, 'incoming'),
      freqDir: path.join(nodeDir, 'pub'),
      keys,
      idB32: keys.idB32,
      raw: {},
    };
    for (const d of [node.spool, node.incoming, node.freqDir]) await mkdir(d, { recursive: true });
    nodes[name] = node;
  }
  const exec = opts.exec ?? { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'] };
  for (const name of names) {
    const node = nodes[name];
    const neigh: Record<string, unknown> = {
      self: { ...publicEntry(node.keys), exec: { sendmail: ['/usr/sbin/sendmail'], ...exec }, incoming: node.incoming },
    };
    for (const other of names) {
      if (other === name) continue;
      neigh[other] = {
        ...publicEntry(nodes[other].keys),
        incoming: node.incoming,
        exec,
        freq: { path: node.freqDir },
        ...opts.neighExtra?.(name, other),
      };
    }
    node.raw = { spool: node.spool, log: node.log, self: selfEntry(node.keys), neigh, ...opts.topExtra?.(name) };
  }
  opts.edit?.(nodes);
  for (const name of names) await saveNode(nodes[name]);
  return nodes;
}

/** Write node.raw to node.cfgPath (JSON is valid Hjson). */
export async function saveNode(node: TestNode): Promise<void> {
  await writeFile(node.cfgPath, JSON.stringify(node.raw, null, 2) + '\n');
}

/** A quiet context for a node's configuration, made as a command makes it (private keys required). */
export function nodeContext(node: Pick<TestNode, 'cfgPath'>): Promise<Context> {
  return makeContext({ cfg: node.cfgPath, quiet: true, needSelf: true });
}

/**
 * A context for a configuration whose log lines meant for stderr are
 * collected (returned by `stderr()`); $NNCP* ignored, no fsync.
 */
export async function capturingContext(cfgPath: string, opts: { noHdr?: boolean } = {}): Promise<{ ctx: Context; stderr: () => string }> {
  const cfg = await loadConfig({ cfg: cfgPath, env: {} });
  let text = '';
  const log = new Logger({ path: cfg.log, stderr: { write: (s: string) => (text += s) } });
  const spool = new Spool({ root: cfg.spool, noHdr: opts.noHdr ?? cfg.noHdr, umask: cfg.umask, noSync: true });
  return { ctx: { cfg, spool, log, quiet: false, debug: false, progress: false }, stderr: () => text };
}

export interface Lab {
  /** The lab's temporary directory (removed when the test ends); node NAME lives in DIR/NAME. */
  dir: string;
  nodes: Record<string, TestNode>;
  /** A quiet context per node (nodeContext). */
  ctx: Record<string, Context>;
}

/** makeNodes in a fresh temporary directory, removed when the test ends. */
export async function tmpNodes(t: ExecutionContext, names: readonly string[], opts: MakeNodesOptions = {}): Promise<Record<string, TestNode>> {
  return makeNodes(await tmpDir(t), names, opts);
}

/** Nodes made in-process in a fresh temporary directory (makeNodes, generator 'pigeon'), with a context each. */
export async function lab(t: ExecutionContext, names: readonly string[], opts: Omit<MakeNodesOptions, 'generator'> = {}): Promise<Lab> {
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, names, { ...opts, generator: 'pigeon' });
  const ctx: Record<string, Context> = {};
  for (const n of names) ctx[n] = await nodeContext(nodes[n]);
  return { dir, nodes, ctx };
}
