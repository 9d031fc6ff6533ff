/**
 * The validated, typed configuration every command works from. `load.ts`
 * builds it from an Hjson file (or an nncp-cfgdir directory), through
 * parse.ts / cfgdir.ts and validate.ts; nothing else reads the file.
 * Sizes are bytes and durations seconds here, whatever unit the file uses.
 */
import { base32Encode } from '../codec/base32.js';
import { ConfigError } from '../errors.js';

export interface NodeKeys {
  id: Uint8Array;
  exchPub: Uint8Array;
  signPub: Uint8Array;
  noisePub?: Uint8Array;
}

export interface SelfNode extends NodeKeys {
  idB32: string;
  /** Each private key is checked against its public half at its first read (a mismatch throws the ConfigError naming it then). */
  exchPrv: Uint8Array;
  /** 64 bytes: Ed25519 seed ‖ public key (Go's layout). */
  signPrv: Uint8Array;
  noisePrv: Uint8Array;
  noisePub: Uint8Array;
}

export interface FreqConfig {
  /** Absolute directory files may be requested from; absent: freq refused. */
  path?: string;
  /** Chunk size in bytes for replies (file says KiB); absent: not chunked. */
  chunked?: number;
  /** Minimal packet size in bytes for replies (file says KiB). */
  minSize?: number;
  /** Largest file in bytes a freq may fetch (file says KiB); absent: no limit. */
  maxSize?: number;
}

export interface CallConfig {
  cron: string;
  /** 1..255; 255 when the call does not say. */
  nice: number;
  xx?: 'rx' | 'tx';
  /** Resolved through the neighbour's `addrs` when it names one of them. */
  addr?: string;
  /** Seconds; inherits the neighbour's. */
  onlineDeadline: number;
  /** Seconds, 0 = unlimited. NNCP does not inherit the neighbour's value here. */
  maxOnlineTime: number;
  /** Packets per second, 0 = unlimited; inherit the neighbour's. */
  rxRate: number;
  txRate: number;
  whenTxExists: boolean;
  noCK: boolean;
  mcdIgnore: boolean;
  autoToss: boolean;
  autoTossDoSeen: boolean;
  autoTossNoFile: boolean;
  autoTossNoFreq: boolean;
  autoTossNoExec: boolean;
  autoTossNoTrns: boolean;
  autoTossNoArea: boolean;
  autoTossNoACK: boolean;
  /** NNCP 8.9: ACK every tossed packet (toss -gen-ack). */
  autoTossGenAck: boolean;
}

export interface Neighbour extends NodeKeys {
  name: string;
  idB32: string;
  /** Handle → argv prefix. */
  exec: Map<string, string[]>;
  /** Absolute, cleaned; absent: file uploads from this node are refused. */
  incoming?: string;
  freq: FreqConfig;
  /** Node ids of the relays, in config order (first hop first). */
  via: Uint8Array[];
  addrs: Map<string, string>;
  /** Packets per second, 0 = unlimited. */
  rxRate: number;
  txRate: number;
  /** Seconds. */
  onlineDeadline: number;
  /** Seconds, 0 = unlimited. */
  maxOnlineTime: number;
  calls: CallConfig[];
  /**
   * NNCP 8.9's `ack` section: how automatic ACKs to this node are made
   * (niceness; minimal size in bytes, the file says KiB). Absent when the
   * section is; its presence also makes xfer -rx ACK again a packet from
   * this node that was seen before.
   */
  ack?: { minSize?: number; nice?: number };
}

export interface AreaConfig {
  name: string;
  id: Uint8Array;
  idB32: string;
  pub?: Uint8Array;
  prv?: Uint8Array;
  /** Subscribers as Base32 node ids (findNode accepts them like names). */
  subs: string[];
  exec: Map<string, string[]>;
  incoming?: string;
  allowUnknown: boolean;
}

export interface FromTo {
  from: string;
  to: string;
}

export interface NotifyConfig {
  file?: FromTo;
  freq?: FromTo;
  /** Keys are "NODE.HANDLE" or "*.HANDLE". */
  exec: Map<string, FromTo>;
}

export interface Config {
  /** The file (or nncp-cfgdir directory) it was read from. */
  path: string;
  spool: string;
  /** Absolute path, or "FD:N" when overridden from the command line or environment. */
  log: string;
  umask?: number;
  noProgress: boolean;
  noHdr: boolean;
  self?: SelfNode;
  neighbours: Map<string /* idB32 */, Neighbour>;
  byName: Map<string, Neighbour>;
  areas: Map<string /* name */, AreaConfig>;
  areasById: Map<string /* idB32 */, AreaConfig>;
  mcdListen: string[];
  mcdSend: Map<string, number>;
  notify?: NotifyConfig;
  yggdrasilAliases: Map<string, string>;
  /** Keys NNCP would silently ignore (unknown keys), one line each. */
  warnings: string[];
}

/** A neighbour by name or Base32 id. */
export function findNode(cfg: Config, nameOrId: string): Neighbour {
  const byName = cfg.byName.get(nameOrId);
  if (byName) return byName;
  const byId = cfg.neighbours.get(nameOrId);
  if (byId) return byId;
  throw new ConfigError(`unknown node ${nameOrId}: not in neigh of ${cfg.path}`);
}

/** A neighbour by raw id, or undefined. */
export function nodeById(cfg: Config, id: Uint8Array): Neighbour | undefined {
  return cfg.neighbours.get(base32Encode(id));
}
