/**
 * The typed messages between the privileged parent and the network child
 * (imsg-style, after OpenSMTPD): each is an object with a type tag `t` and a
 * few fields, sent over the child_process IPC channel with the 'advanced'
 * (structured clone) serialization, so keys travel as Uint8Array. A socket
 * handed to the child rides along with its `conn` message.
 *
 * Every message is validated on receipt (`parseToParent`, `parseToChild`):
 * an unknown tag, a missing or ill-typed field or an oversized value is a
 * protocol violation. The parent treats one from the child as a sign the
 * child is not ours any more: it kills it and starts a fresh one.
 *
 * What the child is given (`ChildInit`) is exactly what answering calls
 * needs: the Noise key pair, our public identity, the neighbours' public
 * keys and session settings, the spool's root and write switches. The
 * packet private keys (exchprv, signprv) have no field here.
 */

/** Our public identity and the Noise key pair (the only private key the child holds). */
export interface ChildSelf {
  id: Uint8Array;
  idB32: string;
  exchPub: Uint8Array;
  signPub: Uint8Array;
  noisePub: Uint8Array;
  noisePrv: Uint8Array;
}

/** A neighbour as a session needs it: public keys, rates, deadlines. */
export interface ChildNeighbour {
  name: string;
  id: Uint8Array;
  idB32: string;
  exchPub: Uint8Array;
  signPub: Uint8Array;
  noisePub?: Uint8Array;
  rxRate: number;
  txRate: number;
  onlineDeadline: number;
  maxOnlineTime: number;
}

export interface ChildInit {
  t: 'init';
  /** The configuration's path, for messages only (the child cannot read it). */
  cfgPath: string;
  self: ChildSelf;
  neighbours: ChildNeighbour[];
  spool: { root: string; noHdr: boolean; noSync: boolean; umask?: number };
  nice: number;
  noCK: boolean;
  /** The parent tosses each session's rx queue (-autotoss): the child tells it when sessions start. */
  autoToss: boolean;
  debug: boolean;
  progress: boolean;
  /** Serve one session over descriptors 0 and 1 (-ucspi) instead of sockets handed over. */
  stdio?: { addr: string };
}

/** One call's session settings (`pigeon call`/`caller` under privilege separation). */
export interface CallRequest {
  t: 'call';
  conn: number;
  /** The neighbour called (its id). */
  node: string;
  addr: string;
  nice: number;
  xx?: 'rx' | 'tx';
  listOnly: boolean;
  pkts?: string[];
  noCK: boolean;
  rxRate: number;
  txRate: number;
  onlineDeadline: number;
  maxOnlineTime: number;
}

/** Parent → child. `conn` and `call` carry the socket as the IPC handle. */
export type ToChild =
  | ChildInit
  | { t: 'conn'; conn: number; addr: string }
  /** Run the initiator's session of a call over the socket the parent dialled. */
  | CallRequest
  /** Answer `checked` once every received packet so far has been checksummed. */
  | { t: 'checks'; req: number }
  | { t: 'stop' };

export type LogLevel = 'info' | 'error' | 'debug';

/** Child → parent. */
export type ToParent =
  | { t: 'ready' }
  | { t: 'log'; level: LogLevel; who: string; fields: [string, string | number][]; human: string; err?: string }
  /** A session with `node` began on `conn`: the parent starts auto-tossing it. */
  | { t: 'session'; conn: number; node: string }
  /** The connection is over (the child closed its socket). */
  | { t: 'end'; conn: number }
  /** The call on `conn` is over (and what it received is checksummed); `started`: a session was made. */
  | { t: 'called'; conn: number; started: boolean; ok: boolean }
  | { t: 'checked'; req: number };

export class ProtocolError extends Error {}

const MAX_TEXT = 64 * 1024;
const MAX_FIELDS = 64;
const WHO = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;
const FIELD_NAME = /^[A-Za-z%][A-Za-z0-9_]{0,63}$/;
const ID_B32 = /^[A-Z2-7]{52}$/;

type Obj = Record<string, unknown>;

function obj(m: unknown): Obj {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ProtocolError('message is not an object');
  return m as Obj;
}

function str(o: Obj, k: string, max = MAX_TEXT): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) throw new ProtocolError(`${String(o.t)}.${k}: expected a string of at most ${max} characters`);
  return v;
}

function num(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolError(`${String(o.t)}.${k}: expected a number`);
  return v;
}

function uint(o: Obj, k: string): number {
  const v = num(o, k);
  if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError(`${String(o.t)}.${k}: expected a non-negative integer`);
  return v;
}

function bool(o: Obj, k: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') throw new ProtocolError(`${String(o.t)}.${k}: expected a boolean`);
  return v;
}

function bytes(o: Obj, k: string, len: number): Uint8Array {
  const v = o[k];
  if (!(v instanceof Uint8Array) || v.length !== len) throw new ProtocolError(`${String(o.t)}.${k}: expected ${len} bytes`);
  return v;
}

function idB32(o: Obj, k: string): string {
  const v = str(o, k, 52);
  if (!ID_B32.test(v)) throw new ProtocolError(`${String(o.t)}.${k}: not a node id`);
  return v;
}

/** Validate a message from the child; throws ProtocolError. */
export function parseToParent(m: unknown): ToParent {
  const o = obj(m);
  switch (o.t) {
    case 'ready':
      return { t: 'ready' };
    case 'log': {
      const level = o.level;
      if (level !== 'info' && level !== 'error' && level !== 'debug') throw new ProtocolError('log.level: expected info, error or debug');
      const who = str(o, 'who', 64);
      if (!WHO.test(who)) throw new ProtocolError('log.who: not a record kind');
      if (!Array.isArray(o.fields) || o.fields.length > MAX_FIELDS) throw new ProtocolError(`log.fields: expected at most ${MAX_FIELDS} fields`);
      const fields: [string, string | number][] = [];
      for (const f of o.fields as unknown[]) {
        if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== 'string' || !FIELD_NAME.test(f[0])) throw new ProtocolError('log.fields: expected [name, value] pairs');
        const v: unknown = f[1];
        if (!(typeof v === 'number' && Number.isFinite(v)) && !(typeof v === 'string' && v.length <= MAX_TEXT)) throw new ProtocolError(`log.fields.${f[0]}: expected a string or a number`);
        fields.push([f[0], v]);
      }
      const out: ToParent = { t: 'log', level, who, fields, human: str(o, 'human') };
      if (o.err !== undefined) out.err = str(o, 'err');
      return out;
    }
    case 'session':
      return { t: 'session', conn: uint(o, 'conn'), node: idB32(o, 'node') };
    case 'end':
      return { t: 'end', conn: uint(o, 'conn') };
    case 'called':
      return { t: 'called', conn: uint(o, 'conn'), started: bool(o, 'started'), ok: bool(o, 'ok') };
    case 'checked':
      return { t: 'checked', req: uint(o, 'req') };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(String(o.t)).slice(0, 40)}`);
  }
}

function parseSelf(v: unknown): ChildSelf {
  const o = obj(v);
  return {
    id: bytes(o, 'id', 32),
    idB32: idB32(o, 'idB32'),
    exchPub: bytes(o, 'exchPub', 32),
    signPub: bytes(o, 'signPub', 32),
    noisePub: bytes(o, 'noisePub', 32),
    noisePrv: bytes(o, 'noisePrv', 32),
  };
}

function parseNeighbour(v: unknown): ChildNeighbour {
  const o = obj(v);
  const n: ChildNeighbour = {
    name: str(o, 'name', 1024),
    id: bytes(o, 'id', 32),
    idB32: idB32(o, 'idB32'),
    exchPub: bytes(o, 'exchPub', 32),
    signPub: bytes(o, 'signPub', 32),
    rxRate: uint(o, 'rxRate'),
    txRate: uint(o, 'txRate'),
    onlineDeadline: uint(o, 'onlineDeadline'),
    maxOnlineTime: uint(o, 'maxOnlineTime'),
  };
  if (o.noisePub !== undefined) n.noisePub = bytes(o, 'noisePub', 32);
  return n;
}

function parseCall(o: Obj): CallRequest {
  const c: CallRequest = {
    t: 'call',
    conn: uint(o, 'conn'),
    node: idB32(o, 'node'),
    addr: str(o, 'addr', 1024),
    nice: uint(o, 'nice'),
    listOnly: bool(o, 'listOnly'),
    noCK: bool(o, 'noCK'),
    rxRate: uint(o, 'rxRate'),
    txRate: uint(o, 'txRate'),
    onlineDeadline: uint(o, 'onlineDeadline'),
    maxOnlineTime: uint(o, 'maxOnlineTime'),
  };
  if (o.xx !== undefined) {
    if (o.xx !== 'rx' && o.xx !== 'tx') throw new ProtocolError('call.xx: expected rx or tx');
    c.xx = o.xx;
  }
  if (o.pkts !== undefined) {
    if (!Array.isArray(o.pkts) || o.pkts.length > 100_000) throw new ProtocolError('call.pkts: expected a list of packet ids');
    c.pkts = (o.pkts as unknown[]).map((p) => {
      if (typeof p !== 'string' || p.length > 64) throw new ProtocolError('call.pkts: expected a list of packet ids');
      return p;
    });
  }
  if (c.nice > 255) throw new ProtocolError('call.nice: expected 0..255');
  return c;
}

/** Validate a message from the parent; throws ProtocolError. */
export function parseToChild(m: unknown): ToChild {
  const o = obj(m);
  switch (o.t) {
    case 'init': {
      if (!Array.isArray(o.neighbours)) throw new ProtocolError('init.neighbours: expected a list');
      const sp = obj(o.spool);
      const spool: ChildInit['spool'] = { root: str(sp, 'root', 4096), noHdr: bool(sp, 'noHdr'), noSync: bool(sp, 'noSync') };
      if (sp.umask !== undefined) spool.umask = uint(sp, 'umask');
      const init: ChildInit = {
        t: 'init',
        cfgPath: str(o, 'cfgPath', 4096),
        self: parseSelf(o.self),
        neighbours: (o.neighbours as unknown[]).map(parseNeighbour),
        spool,
        nice: uint(o, 'nice'),
        noCK: bool(o, 'noCK'),
        autoToss: bool(o, 'autoToss'),
        debug: bool(o, 'debug'),
        progress: bool(o, 'progress'),
      };
      if (o.stdio !== undefined) init.stdio = { addr: str(obj(o.stdio), 'addr', 1024) };
      return init;
    }
    case 'conn':
      return { t: 'conn', conn: uint(o, 'conn'), addr: str(o, 'addr', 1024) };
    case 'call':
      return parseCall(o);
    case 'checks':
      return { t: 'checks', req: uint(o, 'req') };
    case 'stop':
      return { t: 'stop' };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(String(o.t)).slice(0, 40)}`);
  }
}
