/**
 * Pigeon as a library: the pieces the commands are built from.
 *
 * Importing it changes nothing in the process (no V8 flags, no forced
 * collections, no buffers kept, no handlers). The `pigeon` executable turns
 * on two process-wide switches at start that a library user may want too,
 * for the same memory profile: enableReclaim() (forced young-generation
 * collections every few MiB of short-lived buffers: stdin chunks, online
 * frames, the node:crypto engine's blocks; without it V8 collects them only
 * after ~64 MiB) and enableBufferPool() (packet batch buffers, ~17 MB,
 * kept between packets). The bytes produced are the same either way, and
 * memory stays bounded without them.
 */
export { makeContext, type Context, type ContextFlags } from './context.js';
export { loadConfig, parseConfigText, type LoadOptions } from './config/load.js';
export type { Config, Neighbour, SelfNode, AreaConfig } from './config/types.js';
export { findNode } from './config/types.js';
export { generateNodeKeys, nodeIdFromSignPub } from './crypto/keys.js';
export { MTH, mthOfFile, mthOfStream } from './crypto/mth.js';
export { encryptPacket, decryptPacket, openPlain } from './packet/encrypted.js';
export { PktType } from './packet/header.js';
export { inspectPacket } from './packet/inspect.js';
export { Spool } from './spool/spool.js';
export { Logger, parseLog } from './log/log.js';
export { txPacket } from './tx/send.js';
export { txFile, type TxFileOptions } from './tx/file.js';
export { txExec } from './tx/exec.js';
export { tossAll, type TossResult, type TossOptions } from './toss/toss.js';
export { xfer, xferRx, xferTx, type XferOptions, type XferResult } from './xfer/xfer.js';
export { spoolStatus, type NodeStatus, type QueueTotals, type PacketStatus, type NiceTotals, type LogEvent, type StatusOptions } from './admin/status.js';
export { statusPage } from './admin/html.js';
export { check, type CheckItem, type CheckOptions, type CheckResult } from './admin/check.js';
export { parseNice, formatNice } from './nice.js';
export { iBytes, shortId } from './format.js';
export { enableReclaim } from './stream/reclaim.js';
export { enableBufferPool } from './stream/pool.js';
export { PigeonError, ConfigError, PacketError, AuthError } from './errors.js';
