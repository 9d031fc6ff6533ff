/**
 * Where everything lives in a spool directory, as the reference lays it
 * out. This is the only place that spells a spool path; it does no I/O.
 * Spool (spool.ts) extends it with the reading and writing, and the lock
 * module (lock.ts) uses it for lock files.
 *
 *   <root>/tmp/                              temporary files (atomic writes)
 *   <root>/<NODE>/rx/ , tx/                  complete packets, named by their MTH (52 Base32 chars)
 *   <root>/<NODE>/rx|tx/hdr/<PKT>            copy of the packet's 172-byte encrypted header
 *   <root>/<NODE>/rx/seen/<PKT>              empty marker: packet already tossed (nncp-toss -seen)
 *   <root>/<NODE>/rx/<PKT>.part, .nock       partly received, received but not yet checksummed
 *   <root>/<NODE>/rx/delivery/<PKT>          pigeon's delivery record of a packet being tossed (delivery.ts)
 *   <root>/<NODE>/rx/quarantine/<PKT>        pigeon: a packet that failed verification, moved aside (quarantine.ts)
 *   <root>/<NODE>/tx/ack/<PKT>               pigeon (NNCP 8.9): empty marker: tx/<PKT> is an ACK made automatically
 *                                            (toss -gen-ack, carry): dequeued once carried, never waits for an ACK
 *   <root>/<NODE>/area/<AREA>/<MSG>          empty marker: NODE has (been sent) area message MSG
 *   <root>/<NODE>/{rx,tx,toss}.lock          flock(2) locks
 *   <root>/<name> -> <root>/<NODE>           human-readable link made when queueing for a neighbour
 *   <incoming>/…/.pigeon-tmp-<PKT>.<hex>     a file being tossed, before it gets its name
 *
 * The reference ignores the pigeon directories under rx/ and tx/: it lists only
 * 52-character names there, and nncp-rm -rx removes only the files directly
 * in rx/.
 */
import path from 'node:path';
import { base32Decode, base32Len } from '../codec/base32.js';
import type { LockContext } from './lock.js';

export type Queue = 'rx' | 'tx';

const TMP_DIR = 'tmp';
const HDR_DIR = 'hdr';
const SEEN_DIR = 'seen';
const AREA_DIR = 'area';
export const PART_SUFFIX = '.part';
export const NOCK_SUFFIX = '.nock';
export const LOCK_SUFFIX = '.lock';
export type PartialSuffix = typeof PART_SUFFIX | typeof NOCK_SUFFIX;

/** Length of a packet id (Base32 of a 32-byte MTH) and of a node id. */
const PKT_ID_LEN = base32Len(32);

/** True for a canonical Base32 encoding of 32 bytes (packet and node ids). */
export function isId(name: string): boolean {
  return name.length === PKT_ID_LEN && base32Decode(name) !== null;
}

/** The packet id of an rx/ file named <PKT>.part or <PKT>.nock (per `suffix`), or null for any other name. */
export function partialId(name: string, suffix: PartialSuffix): string | null {
  if (!name.endsWith(suffix)) return null;
  const id = name.slice(0, -suffix.length);
  return isId(id) ? id : null;
}

export const DELIVERY_DIR = 'delivery';
export const QUARANTINE_DIR = 'quarantine';
const ACK_MARK_DIR = 'ack';
/** Start of the name of a file being tossed into incoming/ (a dot-file: hidden from ls and globs). */
export const INCOMING_TMP_PREFIX = '.pigeon-tmp-';

export class SpoolLayout {
  constructor(readonly root: string) {}

  tmpDir(): string {
    return path.join(this.root, TMP_DIR);
  }

  nodeDir(nodeIdB32: string): string {
    return path.join(this.root, nodeIdB32);
  }

  queueDir(nodeIdB32: string, xx: Queue): string {
    return path.join(this.root, nodeIdB32, xx);
  }

  packetPath(nodeIdB32: string, xx: Queue, pktId: string): string {
    return path.join(this.root, nodeIdB32, xx, pktId);
  }

  hdrDir(nodeIdB32: string, xx: Queue): string {
    return path.join(this.root, nodeIdB32, xx, HDR_DIR);
  }

  hdrPath(nodeIdB32: string, xx: Queue, pktId: string): string {
    return path.join(this.hdrDir(nodeIdB32, xx), pktId);
  }

  /** The hdr/ file of the queue file at `pktPath` (its directory's hdr/, same name). */
  hdrPathOf(pktPath: string): string {
    return path.join(path.dirname(pktPath), HDR_DIR, path.basename(pktPath));
  }

  seenDir(nodeIdB32: string): string {
    return path.join(this.root, nodeIdB32, 'rx', SEEN_DIR);
  }

  seenPath(nodeIdB32: string, pktId: string): string {
    return path.join(this.seenDir(nodeIdB32), pktId);
  }

  /** rx/<pktId>.part: a packet being received online. */
  partPath(nodeIdB32: string, pktId: string): string {
    return this.partialPath(nodeIdB32, pktId, PART_SUFFIX);
  }

  /** rx/<pktId>.nock: a packet received online, not yet checksummed. */
  nockPath(nodeIdB32: string, pktId: string): string {
    return this.partialPath(nodeIdB32, pktId, NOCK_SUFFIX);
  }

  /** rx/<pktId>.part or rx/<pktId>.nock, per `suffix`. */
  partialPath(nodeIdB32: string, pktId: string, suffix: PartialSuffix): string {
    return this.packetPath(nodeIdB32, 'rx', pktId) + suffix;
  }

  /** rx/delivery/: the delivery records of packets being tossed. */
  deliveryDir(nodeIdB32: string): string {
    return path.join(this.root, nodeIdB32, 'rx', DELIVERY_DIR);
  }

  deliveryPath(nodeIdB32: string, pktId: string): string {
    return path.join(this.deliveryDir(nodeIdB32), pktId);
  }

  /** rx/quarantine/: packets that failed verification, never tossed again. */
  quarantineDir(nodeIdB32: string): string {
    return path.join(this.root, nodeIdB32, 'rx', QUARANTINE_DIR);
  }

  quarantinePath(nodeIdB32: string, pktId: string): string {
    return path.join(this.quarantineDir(nodeIdB32), pktId);
  }

  /** tx/ack/: markers of the automatically made ACK packets queued in tx/. */
  ackMarkDir(nodeIdB32: string): string {
    return path.join(this.root, nodeIdB32, 'tx', ACK_MARK_DIR);
  }

  ackMarkPath(nodeIdB32: string, pktId: string): string {
    return path.join(this.ackMarkDir(nodeIdB32), pktId);
  }

  /** A node's area/ directory, or that of one area inside it. */
  areaDir(nodeIdB32: string, areaIdB32?: string): string {
    const dir = path.join(this.root, nodeIdB32, AREA_DIR);
    return areaIdB32 === undefined ? dir : path.join(dir, areaIdB32);
  }

  /** The marker "node NODE has seen (or been sent) message MSG of AREA". */
  areaSeenPath(nodeIdB32: string, areaIdB32: string, msgHash: string): string {
    return path.join(this.areaDir(nodeIdB32, areaIdB32), msgHash);
  }

  /** The human-readable `<root>/<name>` link to a neighbour's directory. */
  nameLinkPath(name: string): string {
    return path.join(this.root, name);
  }

  lockPath(nodeIdB32: string, ctx: LockContext): string {
    return path.join(this.root, nodeIdB32, ctx) + LOCK_SUFFIX;
  }
}
