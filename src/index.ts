/** Pigeon as a library: the pieces the commands are built from. */
export { makeContext, type Context } from './context.js';
export { loadConfig, parseConfigText } from './config/load.js';
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
export { txFile } from './tx/file.js';
export { txExec } from './tx/exec.js';
export { tossAll } from './toss/toss.js';
export { parseNice, formatNice } from './nice.js';
export { PigeonError, ConfigError, PacketError, AuthError } from './errors.js';
