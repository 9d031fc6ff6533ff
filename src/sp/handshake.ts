/**
 * The sync protocol's Noise_IK_25519_ChaChaPoly_BLAKE2b handshake over a
 * byte link, and the transport that follows it.
 *
 *   initiator → responder   frame[ e, es, s, ss, first payload ]
 *   responder → initiator   frame[ e, ee, se, first payload ]
 *   then transport messages, each in its own frame, both ways at once.
 *
 * As the reference does: no prologue; each side's first payload (its INFOs)
 * is padded with HALTs to 65280 bytes; the initiator knows the responder's
 * `noisepub` beforehand, the responder learns the initiator's static key
 * from the first message and must find it among its neighbours before it
 * answers. A stranger gets nothing back: the link is closed and an
 * UnknownPeerError names its key. Handshake reads and writes are bounded by
 * the reference's deadline ($NNCPDEADLINE seconds, default 10).
 */
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { base32Encode } from '../codec/base32.js';
import { bytesEqual } from '../codec/bytes.js';
import { DEFAULT_DEADLINE_S, envDeadlineSeconds } from '../config/env.js';
import type { Neighbour, SelfNode } from '../config/types.js';
import { AuthError, ConfigError, errorLine, PacketError, PigeonError } from '../errors.js';
import { reclaim, reclaimFrames } from '../stream/reclaim.js';
import { encodeFrame, FRAME_HEAD_SIZE, FrameReader, frameInPlace, framedSize, SP_MAX_FRAME } from './frame.js';
import { CipherState, HandshakeState, NOISE_MAX_MSG, StaticKey, TAGLEN } from './noise.js';
import { padWithHalts, SP_MAX_PAYLOAD } from './packets.js';

/** A byte link: a socket (readable = writable = the socket) or a pair of pipes. */
export interface SpConn {
  readable: Readable | AsyncIterable<Uint8Array>;
  writable: Writable;
  /** Called once when the transport closes, after the streams are ended (e.g. to kill a child). */
  close?: () => void;
}

export interface SpOptions {
  /** Bound on each handshake read and write; default from $NNCPDEADLINE (10 s). */
  deadlineMs?: number;
  /** Who is at the other end, for error messages (default: the socket's address or the node's name). */
  what?: string;
  /** Largest frame accepted (default: a Noise message's 65535 bytes). */
  maxFrame?: number;
}

export interface SpTransport {
  peer: Neighbour;
  /** The peer's first payload, as it came in the handshake (INFOs then HALTs). */
  peerFirstPayload: Uint8Array;
  /** Encrypt and send one payload (≤ 65280 bytes); resolves when the link took it (backpressure). */
  send(payload: Uint8Array): Promise<void>;
  /** The next payload from the peer, or null once the link ended or close() was called: a view of a reused buffer, valid until the next receive(). */
  receive(): Promise<Uint8Array | null>;
  /** End the link: pending writes are flushed (bounded by the deadline), then both ways are torn down. */
  close(): void;
  /** The Noise handshake hash (equal on both ends of a genuine session). */
  handshakeHash: Uint8Array;
  /** Bytes of whole frames received and sent so far, handshake included. */
  readonly rxBytes: number;
  readonly txBytes: number;
}

/** The peer that reached us has a static key none of our neighbours has. */
export class UnknownPeerError extends AuthError {
  /** Base32 of the key, as the reference logs it (field "Peer"). */
  readonly peerId: string;
  constructor(readonly noisePub: Uint8Array, what: string) {
    const id = base32Encode(noisePub);
    super(`${what}: unknown peer ${id}: no neighbour has this noisepub; connection refused before anything was sent`);
    this.name = 'UnknownPeerError';
    this.peerId = id;
  }
}

/** The reference's I/O deadline: $NNCPDEADLINE seconds, 10 by default. */
export function spDeadlineMs(env: NodeJS.ProcessEnv = process.env): number {
  return (envDeadlineSeconds(env) ?? DEFAULT_DEADLINE_S) * 1000;
}

/** A neighbour lookup by noise public key (constant-time compare), for spRespond. */
export function noisePubLookup(neighbours: Iterable<Neighbour>): (pub: Uint8Array) => Neighbour | undefined {
  const list = [...neighbours].filter((n) => n.noisePub && n.noisePub.length === 32);
  return (pub) => {
    if (pub.length !== 32) return undefined;
    let found: Neighbour | undefined;
    for (const n of list) if (bytesEqual(n.noisePub!, pub) && !found) found = n;
    return found;
  };
}

function describeConn(conn: SpConn, fallback: string): string {
  const sock = conn.readable as { remoteAddress?: string; remotePort?: number };
  if (typeof sock.remoteAddress === 'string') {
    const h = sock.remoteAddress;
    return `peer ${h.includes(':') ? `[${h}]` : h}:${sock.remotePort ?? 0}`;
  }
  return fallback;
}

/**
 * Our Noise key as one KeyObject: make it once and hand it to every
 * spInitiate/spRespond (instead of the SelfNode) so handshakes share it.
 */
export function noiseStaticKey(self: SelfNode): StaticKey {
  if (!self.noisePrv || !self.noisePub) throw new ConfigError('self has no noiseprv/noisepub: online exchange needs them (regenerate the keys with cfgnew)');
  return new StaticKey(self.noisePrv, self.noisePub);
}

function staticKeys(self: SelfNode | StaticKey): StaticKey {
  return self instanceof StaticKey ? self : noiseStaticKey(self);
}

/** As the caller (initiator): send our first message, read the answer. */
export async function spInitiate(conn: SpConn, self: SelfNode | StaticKey, peer: Neighbour, firstPayload: Uint8Array, opts: SpOptions = {}): Promise<SpTransport> {
  if (!peer.noisePub) throw new ConfigError(`node ${peer.name} has no noisepub in the configuration: it cannot be called online`);
  const what = opts.what ?? `node ${peer.name}`;
  const link = new Link(conn, what, opts);
  try {
    const hs = new HandshakeState({ pattern: 'IK', initiator: true, s: staticKeys(self), rs: peer.noisePub });
    await link.write(encodeFrame(hs.writeMessage(padWithHalts(firstPayload))), 'sending the first handshake message');
    const msg = await link.readHandshake('the handshake reply');
    const payload = readHandshakeMessage(hs, msg, what, 'the handshake reply', `is noisepub of ${peer.name} in the configuration its current key?`);
    const [i2r, r2i] = hs.split();
    return link.transport(peer, payload, hs.handshakeHash(), i2r, r2i);
  } catch (err) {
    link.close(true);
    throw err;
  }
}

/**
 * Answer a call: read the initiator's first message, find the peer by its
 * static key, and only then build our first payload and answer.
 */
export async function spRespond(
  conn: SpConn,
  self: SelfNode | StaticKey,
  findByNoisePub: (pub: Uint8Array) => Neighbour | undefined,
  firstPayload: (peer: Neighbour) => Uint8Array | Promise<Uint8Array>,
  opts: SpOptions = {},
): Promise<SpTransport> {
  let what = opts.what ?? describeConn(conn, 'peer');
  const link = new Link(conn, what, opts);
  try {
    const hs = new HandshakeState({ pattern: 'IK', initiator: false, s: staticKeys(self) });
    const msg = await link.readHandshake('the first handshake message');
    const payload = readHandshakeMessage(hs, msg, what, 'the first handshake message', 'the caller does not have our current noisepub');
    const rs = hs.remoteStatic()!;
    const peer = findByNoisePub(rs);
    if (!peer) throw new UnknownPeerError(rs, what);
    if (opts.what === undefined) what = `${what} (node ${peer.name})`;
    link.what = what;
    const ours = padWithHalts(await firstPayload(peer));
    await link.write(encodeFrame(hs.writeMessage(ours)), 'sending the handshake reply');
    const [i2r, r2i] = hs.split();
    return link.transport(peer, payload, hs.handshakeHash(), r2i, i2r);
  } catch (err) {
    link.close(true);
    throw err;
  }
}

/**
 * The payload of a handshake message (`which`): a malformed one is a
 * PacketError, one that does not authenticate an AuthError ending in `hint`.
 */
function readHandshakeMessage(hs: HandshakeState, msg: Uint8Array, what: string, which: string, hint: string): Uint8Array {
  try {
    return hs.readMessage(msg);
  } catch (err) {
    if (err instanceof PacketError) throw new PacketError(`${what}: ${err.message}`, { cause: err });
    throw new AuthError(`${what}: ${which} does not authenticate (${errorLine(err)}); ${hint}`, { cause: err });
  }
}

const CLOSED = Symbol('closed');

/** A send resolves at once while no more than this many bytes wait in the socket's queue (frames are sealed ahead). */
const SEND_AHEAD = 512 << 10;
/** The largest frame: a full Noise message, framed. */
const FRAME_BUF_SIZE = framedSize(NOISE_MAX_MSG);
/** Frame buffers a link keeps: what SEND_AHEAD lets queue, and a few more. */
const POOL_MAX = Math.ceil(SEND_AHEAD / FRAME_BUF_SIZE) + 4;

/**
 * Buffers that outgoing frames are sealed into. Over a net.Socket a buffer
 * is reused once the socket has handed its bytes to the kernel: the socket
 * writes in order, so every buffer whose last byte is no longer counted in
 * its queue (writableLength) is done. (Its write callback comes a tick or
 * more later, after the sender has already sealed its next frames.) A bulk
 * transfer thus allocates nothing per frame. Over any other stream (a
 * test's in-memory pair) the reader may still hold the very buffer, so
 * every frame gets a new one.
 */
class FramePool {
  private readonly free: Uint8Array[] = [];
  /** Buffers queued on the socket, oldest first, with the stream's byte count at their end. */
  private readonly queued: Array<{ buf: Uint8Array; end: number }> = [];

  constructor(private readonly socket: Writable | null) {}

  /** A buffer for the next frame; `written` is how many bytes went to the stream so far. */
  take(written: number): Uint8Array {
    if (this.socket !== null) {
      const done = written - this.socket.writableLength;
      while (this.queued.length > 0 && this.queued[0].end <= done) {
        const { buf } = this.queued.shift()!;
        if (this.free.length < POOL_MAX) this.free.push(buf);
      }
    }
    return this.free.pop() ?? new Uint8Array(FRAME_BUF_SIZE);
  }

  /** `buf` was written, ending at byte `end` of the stream. */
  queue(buf: Uint8Array, end: number): void {
    if (this.socket === null) reclaimFrames(buf.length);
    else if (this.queued.length < POOL_MAX) this.queued.push({ buf, end });
  }
}

/** The link under a session: framed reads and writes, deadlines, closing. */
class Link {
  private readonly reader: FrameReader;
  private readonly deadlineMs: number;
  private closed = false;
  private failure: Error | null = null;
  /** Wakes a receive() waiting for a frame when close() is called. */
  private onClose: (() => void) | undefined;
  txBytes = 0;
  private readonly frames: FramePool;

  constructor(
    private readonly conn: SpConn,
    private label: string,
    opts: SpOptions,
  ) {
    this.deadlineMs = opts.deadlineMs ?? spDeadlineMs();
    this.reader = new FrameReader(conn.readable, opts.maxFrame ?? SP_MAX_FRAME, label);
    this.frames = new FramePool(conn.writable instanceof net.Socket ? conn.writable : null);
    // Without listeners an EPIPE/ECONNRESET would crash the process; we
    // report them from write() and receive() instead.
    const onError = (err: Error) => {
      this.failure ??= err;
    };
    conn.writable.on('error', onError);
    const r = conn.readable as Partial<Readable>;
    if (r !== (conn.writable as unknown) && typeof r.on === 'function') r.on('error', onError);
  }

  get rxBytes(): number {
    return this.reader.bytesRead;
  }

  /** Who is at the other end, in error messages (the frame reader's too). */
  get what(): string {
    return this.label;
  }

  set what(v: string) {
    this.label = v;
    this.reader.what = v;
  }

  /** Read one handshake frame within the deadline. */
  async readHandshake(which: string): Promise<Uint8Array> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PigeonError('EIO', `${this.what}: no ${which} within ${this.deadlineMs / 1000} s (NNCPDEADLINE); dropping the connection`)),
        this.deadlineMs,
      );
    });
    try {
      const frame = await Promise.race([this.reader.next(), timeout]);
      if (frame === null) throw new PigeonError('EIO', `${this.what}: the connection closed before ${which}; the peer refused us or is not an NNCP node`);
      return frame;
    } catch (err) {
      throw this.ioError(err, `reading ${which}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Write bytes; wait (within the deadline, if given) for the link to drain
   * when more than SEND_AHEAD bytes wait in its queue.
   */
  write(data: Uint8Array, doing: string, deadlineMs: number = this.deadlineMs): Promise<void> {
    const w = this.conn.writable;
    if (this.closed || w.destroyed || w.writableEnded) return Promise.reject(this.ioError(this.failure, doing));
    if (this.failure) return Promise.reject(this.ioError(this.failure, doing));
    this.txBytes += data.length;
    if (w.write(data) || w.writableLength <= SEND_AHEAD) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        w.off('drain', onDrain);
        w.off('finish', onDrain);
        w.off('error', onFail);
        w.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onFail = (err: Error) => done(this.ioError(err, doing));
      const onClose = () => done(this.ioError(this.failure, doing));
      const timer = setTimeout(
        () => done(new PigeonError('EIO', `${this.what}: the peer took nothing for ${deadlineMs / 1000} s while ${doing} (NNCPDEADLINE); dropping the connection`)),
        deadlineMs,
      );
      w.on('drain', onDrain);
      w.on('finish', onDrain); // close() ended the link after flushing it
      w.on('error', onFail);
      w.on('close', onClose);
    });
  }

  /**
   * The next frame, or CLOSED as soon as close() is called. (Not a
   * Promise.race with a long-lived "closed" promise: every race would leave
   * a reaction on it holding its frame until the session ends.)
   */
  private nextFrame(): Promise<Uint8Array | null | typeof CLOSED> {
    return new Promise((resolve, reject) => {
      this.onClose = () => resolve(CLOSED);
      this.reader.nextView().then(
        (frame) => {
          this.onClose = undefined;
          resolve(frame);
        },
        (err) => {
          this.onClose = undefined;
          reject(err);
        },
      );
    });
  }

  private ioError(err: unknown, doing: string): Error {
    if (err instanceof PigeonError) return err;
    if (err === null || err === undefined) return new PigeonError('EIO', `${this.what}: the connection is closed (${doing})`);
    return new PigeonError('EIO', `${this.what}: connection failed while ${doing}: ${errorLine(err)}`, { cause: err });
  }

  transport(peer: Neighbour, peerFirstPayload: Uint8Array, handshakeHash: Uint8Array, tx: CipherState, rx: CipherState): SpTransport {
    const empty = new Uint8Array(0);
    const plain = new Uint8Array(NOISE_MAX_MSG - TAGLEN);
    let rxChain: Promise<unknown> = Promise.resolve();
    const receiveOne = async (): Promise<Uint8Array | null> => {
      if (this.closed) return null;
      let frame: Uint8Array | null | typeof CLOSED;
      try {
        frame = await this.nextFrame(); // a view, valid until the next frame is read
      } catch (err) {
        if (this.closed) return null;
        this.close(true);
        throw this.ioError(err, 'receiving');
      }
      if (frame === CLOSED || frame === null) return null;
      if (frame.length < TAGLEN || frame.length > NOISE_MAX_MSG) {
        this.close(true);
        throw new PigeonError('EPACKET', `${this.what}: a transport message of ${frame.length} bytes cannot be a Noise message`);
      }
      try {
        // Into one reused buffer: the payload is valid until the next receive() (SessionTransport's contract).
        const pt = rx.decryptInto(empty, frame, plain);
        reclaim(4 * frame.length); // the socket's chunks the frame came in are garbage now: a young collection every 2 MiB (measured: fewer is slower and bigger)
        return pt;
      } catch (err) {
        this.close(true);
        throw new AuthError(`${this.what}: a transport message does not authenticate (${errorLine(err)}); dropping the connection`, { cause: err });
      }
    };
    const link = this;
    return {
      peer,
      peerFirstPayload,
      handshakeHash,
      get rxBytes() {
        return link.rxBytes;
      },
      get txBytes() {
        return link.txBytes;
      },
      send: (payload: Uint8Array): Promise<void> => {
        if (payload.length > SP_MAX_PAYLOAD) return Promise.reject(new RangeError(`SP: a payload of ${payload.length} bytes exceeds ${SP_MAX_PAYLOAD}`));
        if (this.closed) return Promise.reject(this.ioError(this.failure, 'sending'));
        // Encrypt and queue in the same tick, so frames leave in nonce order;
        // sealed straight into the frame, in a buffer reused once the socket wrote it.
        const buf = this.frames.take(this.txBytes);
        const frame = frameInPlace(buf, tx.encryptInto(empty, payload, buf.subarray(FRAME_HEAD_SIZE)));
        const sent = this.write(frame, 'sending');
        this.frames.queue(buf, this.txBytes);
        return sent;
      },
      receive: (): Promise<Uint8Array | null> => {
        const p = rxChain.then(receiveOne);
        rxChain = p.catch(() => undefined);
        return p;
      },
      close: () => this.close(false),
    };
  }

  /** Close the link; `abort` drops pending writes instead of flushing them. */
  close(abort: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
    const w = this.conn.writable;
    const r = this.conn.readable as Partial<Readable>;
    let tornDown = false;
    const teardown = () => {
      if (tornDown) return;
      tornDown = true;
      clearTimeout(timer);
      if (!w.destroyed) w.destroy();
      if (typeof r.destroy === 'function' && !r.destroyed) r.destroy();
      this.conn.close?.();
    };
    let timer: NodeJS.Timeout | undefined;
    if (abort || w.destroyed || w.writableFinished) {
      teardown();
      return;
    }
    timer = setTimeout(teardown, this.deadlineMs);
    timer.unref();
    w.once('finish', teardown);
    w.once('close', teardown);
    w.end();
  }
}
