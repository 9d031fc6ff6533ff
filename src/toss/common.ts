/**
 * What the per-type handlers of `toss` share: the description of the packet
 * being tossed, the failure type they throw (logged once, by the tosser),
 * the reference's log vocabulary, and small stream helpers.
 *
 * A handler receives the packet's plain header and its body as a stream.
 * The body is decrypted lazily and throws at the point a block fails
 * authentication or the packet turns out to be truncated, so a handler
 * commits nothing (file renamed, exec trusted, packet queued) before its
 * iteration of the body has ENDED without error. Body chunks are borrowed:
 * each is a view of a reused buffer, valid only until the next one is asked
 * for, so a handler that keeps one (a write in flight) copies it or waits.
 */
import { base32Encode } from '../codec/base32.js';
import type { FreqConfig } from '../config/types.js';
import type { Context } from '../context.js';
import { errorLine } from '../errors.js';
import { iBytes } from '../format.js';
import type { LogFields, LogValue } from '../log/log.js';
import { CT_BLOCK_SIZE, SIZE_STRUCT_SIZE, TAG_SIZE } from '../packet/encrypted.js';
import { ENC_HEADER_SIZE, PLAIN_HEADER_SIZE, type PlainHeader } from '../packet/header.js';
import { PacketError } from '../errors.js';
import { writeDelivery, type DeliveryRecord, type Durability, type SpareRecords } from '../spool/delivery.js';
import type { Trash } from '../spool/trash.js';

/** toss's -seen and -no* switches (also the -autotoss-* flags of call, daemon and caller). */
export interface TossSwitches {
  /** Create rx/seen/<PKT> markers for tossed packets. */
  doSeen?: boolean;
  noFile?: boolean;
  noFreq?: boolean;
  noExec?: boolean;
  noTrns?: boolean;
  noArea?: boolean;
  noAck?: boolean;
  /**
   * NNCP 8.9's -gen-ack: queue an ACK (marked automatic, tx/ack/) to the
   * neighbour of every non-ACK packet tossed from its rx queue, and of every
   * packet found there again after it was seen (so a lost ACK only delays).
   */
  genAck?: boolean;
}

export interface TossOptions extends TossSwitches {
  /** Only this neighbour's queue (default: every neighbour, self included). */
  node?: { idB32: string };
  /** Only packets with niceness <= nice (default 255). */
  nice?: number;
  /** Decrypt and check everything, deliver nothing, remove nothing. */
  dryRun?: boolean;
  /** Stop between packets (and abort the one in progress) when signalled. */
  signal?: AbortSignal;
  /** Told of each ACK queued by genAck: the neighbour and the packet acknowledged. */
  onAckSent?: (nodeIdB32: string, pktId: string) => void;
  /** Told of each of our tx packets an incoming ACK removed. */
  onAckFreed?: (nodeIdB32: string, pktId: string) => void;
}

/**
 * Whom a packet comes from, as far as delivery is concerned: a neighbour,
 * or, for the payload of a multicast area message, the area itself (its
 * incoming and exec allowlist, no freq), as the reference does.
 */
export interface Origin {
  name: string;
  id: Uint8Array;
  idB32: string;
  exec: Map<string, string[]>;
  incoming?: string;
  freq: FreqConfig;
  /** True for an area: replies (freq) and acks make no sense for it. */
  isArea?: boolean;
}

/** One packet being tossed. */
export interface Tossing {
  ctx: Context;
  opts: TossOptions;
  origin: Origin;
  /** Packet id (or "area/AREA/MSG" for an area's payload), for messages. */
  pktName: string;
  /** Niceness of the encrypted header. */
  nice: number;
  /** Payload size estimated from the packet size, as the reference logs it. */
  size: number;
  /** Log fields common to every record about this packet: Node, Pkt, Nice, Size (and area ones). */
  fields: LogFields;
  plain: PlainHeader;
  body: AsyncGenerator<Uint8Array>;
  /** The queued packet, absent for an area's payload (nothing to remove). */
  job?: { path: string; nodeIdB32: string; id: string };
  /**
   * The delivery record of the rx/ packet being tossed (an area's payload
   * shares its carrier's); absent for our queue to ourselves and dry runs.
   */
  delivery?: DeliveryRef;
  /** What the toss of the packet's queue learnt once for all its packets (absent: nothing cached). */
  run?: TossRun;
}

/**
 * Per-packet costs paid once per toss of a queue (under its toss lock): a
 * toss of many small packets otherwise spends more on these than on the
 * packets.
 */
export interface TossRun {
  /** Real (symlink-free) path of each incoming directory already made and resolved in this run. */
  realIncoming: Map<string, string>;
  /**
   * Packets of the queue that had a delivery record when the run began
   * (only this run writes records meanwhile, under the toss lock); null
   * when unknown: each packet's record is then looked for.
   */
  recorded: Set<string> | null;
  /** Record files of packets delivered in this run, for the next records (spool/delivery.ts). */
  spares?: SpareRecords;
  /** Where big packets go once tossed, freed after the run (spool/trash.ts); none in a dry run. */
  trash?: Trash;
}

/** Which record a delivery writes, and what it held when the toss began. */
export interface DeliveryRef {
  nodeIdB32: string;
  pktId: string;
  /** The record found before this toss of the packet, or the last one written. */
  record: DeliveryRecord | null;
  /** Set when the stream of the packet (or of an area's payload) failed verification. */
  corrupt?: PacketError;
}

/** Replace the packet's delivery record (no-op without one). */
export async function noteDelivery(t: Tossing, rec: DeliveryRecord, durability: Durability = 'full'): Promise<void> {
  const ref = t.delivery;
  if (!ref) return;
  await writeDelivery(t.ctx.spool, ref.nodeIdB32, ref.pktId, rec, durability, t.run?.spares);
  ref.record = rec;
}

/**
 * Pass a decrypted stream through, noting on `ref` a verification failure
 * (PacketError: a block that does not authenticate, truncation, bytes
 * after the end) before it reaches the handler: such a packet is
 * quarantined, whatever the handler makes of the error.
 */
export async function* watchIntegrity(src: AsyncIterable<Uint8Array>, ref: DeliveryRef | undefined): AsyncGenerator<Uint8Array> {
  try {
    yield* src;
  } catch (err) {
    if (ref && err instanceof PacketError) ref.corrupt = err;
    throw err;
  }
}

/** What a handler did. 'repeat': read the packet again from its start (area echo). */
export type Outcome = 'done' | 'skipped' | 'repeat';

/**
 * A refusal or failure of one packet: logged once as an error record with
 * the reference's Who and fields; the packet stays queued.
 */
export class TossFailure extends Error {
  constructor(
    readonly who: string,
    readonly fields: LogFields,
    readonly err: unknown,
    readonly human: string,
    /** What the user can do about it: shown on stderr after the error, kept out of the log record (the reference's). */
    readonly hint?: string,
  ) {
    super(`${human}: ${typeof err === 'string' ? err : errorLine(err)}`);
    this.name = 'TossFailure';
  }
}

/** Thrown when the toss was asked to stop (signal). */
export class TossAborted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'TossAborted';
  }
}

export function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new TossAborted();
}

export function withFields(base: LogFields, ...more: [string, LogValue][]): LogFields {
  return [...base, ...more];
}

/** "Tossing alice/PKT (6 B)" — the prefix of most of the reference's toss messages. */
export function tossingPrefix(t: Tossing, kind?: string): string {
  return `Tossing ${kind ? kind + ' ' : ''}${t.origin.name}/${t.pktName} (${iBytes(t.size)})`;
}

/**
 * The payload size the reference logs for a packet of `pktSize` bytes:
 * the packet less its headers, SIZE structure and tags (padding included,
 * as there).
 */
export function pktSizeWithoutEnc(pktSize: number): number {
  let s = pktSize - ENC_HEADER_SIZE - PLAIN_HEADER_SIZE - SIZE_STRUCT_SIZE;
  const blocks = Math.floor(s / CT_BLOCK_SIZE);
  if (s % CT_BLOCK_SIZE !== 0) s -= TAG_SIZE;
  s -= blocks * TAG_SIZE;
  return Math.max(0, s);
}

/** The path field of a plain header, as text (invalid UTF-8 replaced: for messages only). */
export function pathText(plain: PlainHeader): string {
  return new TextDecoder().decode(plain.path);
}

/** The first 32 bytes of a path field (zero-padded, as the fixed-size field is), e.g. a node id. */
export function path32(plain: PlainHeader): Uint8Array {
  const out = new Uint8Array(32);
  out.set(plain.path.subarray(0, 32));
  return out;
}

export function path32B32(plain: PlainHeader): string {
  return base32Encode(path32(plain));
}

/** Read the body to its end (verifying every block), discarding it. */
export async function drain(body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<void> {
  for await (const _ of body) checkAbort(signal);
}

/** Is `p` the directory `root` or inside it? Both absolute and free of symlinks. */
export function isInside(p: string, root: string): boolean {
  if (root === '/') return p.startsWith('/');
  return p === root || p.startsWith(root + '/');
}

