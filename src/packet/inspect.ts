/**
 * `pkt`: describe a raw packet read from a stream, or dump its payload, the
 * way nncp-pkt does. Encrypted packets are opened with our keys (or an
 * area's keys when the recipient is an area we hold).
 */
import { Writable } from 'node:stream';
import { DecompressStream } from 'zstd-napi';
import { base32Encode } from '../codec/base32.js';
import { PacketError } from '../errors.js';
import { printable } from '../format.js';
import { formatNice } from '../nice.js';
import { BlockReader } from '../stream/blockreader.js';
import { readFd } from '../stream/fileread.js';
import { decryptPacket, KnownSender, SelfKeys } from './encrypted.js';
import { decodeEncHeader, decodePlainHeader, ENC_HEADER_SIZE, PLAIN_HEADER_SIZE, PktType } from './header.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, MAGIC_ENC, MAGIC_PLAIN } from './magic.js';

export const OVERHEADS = { plain: PLAIN_HEADER_SIZE, encrypted: ENC_HEADER_SIZE, size: 16 };

export interface InspectConfig {
  self?: SelfKeys;
  neighbours: Map<string, KnownSender & { name: string }>;
  areas: Map<string, { name: string; id: Uint8Array; idB32: string; prv?: Uint8Array }>;
}

/** Per payload type: the name nncp-pkt prints, and `pkt -json`'s short name (the config's and nncp's). */
const PAYLOADS: Record<number, { name: string; key: string }> = {
  [PktType.File]: { name: 'file', key: 'file' },
  [PktType.Freq]: { name: 'file request', key: 'freq' },
  [PktType.Exec]: { name: 'exec compressed', key: 'exec' },
  [PktType.Trns]: { name: 'transitional', key: 'trns' },
  [PktType.ExecFat]: { name: 'exec uncompressed', key: 'execfat' },
  [PktType.Area]: { name: 'area', key: 'area' },
  [PktType.Ack]: { name: 'acknowledgement', key: 'ack' },
};

function jsonLine(o: Record<string, unknown>): string {
  return JSON.stringify(o) + '\n';
}

function areaById(cfg: InspectConfig, id: Uint8Array) {
  const b32 = base32Encode(id);
  for (const a of cfg.areas.values()) if (a.idB32 === b32) return a;
  return undefined;
}

/** Write every chunk, each fully handed over before the next is asked for (chunks may be borrowed). */
async function writeAll(out: Writable, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const c of chunks) {
    await new Promise<void>((resolve, reject) => out.write(c, (err) => (err ? reject(err) : resolve())));
  }
}

/** A descriptor (stdin) as reused 1 MiB chunks, each valid until the next is asked for. */
async function* fdChunks(fd: number): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    const n = await readFd(fd, buf, 0, buf.length, null);
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

async function* rest(head: Uint8Array, reader: BlockReader): AsyncGenerator<Uint8Array> {
  if (head.length) yield head;
  for (;;) {
    const b = await reader.read(1 << 20);
    if (b.length === 0) return;
    yield b;
  }
}

async function* zstdDecompress(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const d = new DecompressStream();
  const feed = (async () => {
    try {
      for await (const c of src) if (!d.write(c)) await new Promise<void>((res) => d.once('drain', res));
      d.end();
    } catch (e) {
      d.destroy(e as Error);
    }
  })();
  for await (const c of d) yield c as Uint8Array;
  await feed;
}

/**
 * Describe (returns the text) or, with `dump`, write the payload to `out`
 * (returns ''). Integrity and format faults are thrown as PacketError.
 */
export async function inspectPacket(opts: {
  /** The packet: a stream, or a descriptor read directly (stdin). */
  input: AsyncIterable<Uint8Array> | { fd: number };
  cfg: InspectConfig;
  dump?: boolean;
  decompress?: boolean;
  /** Describe as one JSON object (and a newline) instead of nncp-pkt's text. */
  json?: boolean;
  out?: Writable;
  what?: string;
}): Promise<string> {
  const what = opts.what ?? 'packet';
  const { cfg } = opts;
  const fd = 'fd' in opts.input ? opts.input.fd : null;
  const reader = new BlockReader(fd === null ? (opts.input as AsyncIterable<Uint8Array>) : fdChunks(fd));
  const encHead = (await reader.read(ENC_HEADER_SIZE)).slice();
  if (encHead.length < ENC_HEADER_SIZE) throw new PacketError(`${what}: not enough data to read a packet header (${encHead.length} bytes)`);
  const magic = encHead.subarray(0, 8);

  if (bytesEqual(magic, MAGIC_ENC.bytes)) {
    const h = decodeEncHeader(encHead, what);
    const senderB32 = base32Encode(h.sender);
    const recipientB32 = base32Encode(h.recipient);
    const sender = cfg.neighbours.get(senderB32);
    const recipientNode = cfg.neighbours.get(recipientB32);
    const area = recipientNode ? undefined : areaById(cfg, h.recipient);
    const recipientName = recipientNode ? recipientNode.name : area ? `area ${area.name}` : 'unknown';
    if (!opts.dump) {
      if (opts.json) {
        return jsonLine({
          packet: 'encrypted',
          nice: h.nice,
          niceName: formatNice(h.nice),
          sender: senderB32,
          senderName: sender ? sender.name : null,
          recipient: recipientB32,
          recipientName: recipientNode ? recipientNode.name : null,
          area: area ? area.name : null,
        });
      }
      return (
        `Packet type: encrypted\nNiceness: ${formatNice(h.nice)} (${h.nice})\n` +
        `Sender: ${senderB32} (${sender ? sender.name : 'unknown'})\n` +
        `Recipient: ${recipientB32} (${recipientName})\n`
      );
    }
    let self: SelfKeys;
    if (area) {
      if (!area.prv) throw new PacketError(`${what}: addressed to area ${area.name}, but the configuration has no private key for it`);
      self = { id: area.id, exchPrv: area.prv };
    } else {
      if (!cfg.self) throw new PacketError(`${what}: cannot decrypt: the configuration has no self section with private keys`);
      self = cfg.self;
    }
    const lookup = (id: Uint8Array) => cfg.neighbours.get(base32Encode(id));
    // From a descriptor, the bytes after the header go straight into the decryptor's buffers.
    const rawHead = fd === null ? new Uint8Array(0) : reader.takeBuffered();
    const dec = await decryptPacket({
      self,
      lookup,
      input: fd === null ? rest(encHead, reader) : { file: fd, head: Buffer.concat([encHead, rawHead]) },
      what,
      // Like the reference: a packet from a stranger can still be dumped, unverified.
      noVerify: sender === undefined,
      borrow: true,
    });
    await writeAll(opts.out!, dec.plaintext);
    return '';
  }

  const more = await reader.read(PLAIN_HEADER_SIZE - ENC_HEADER_SIZE);
  const plainHead = new Uint8Array(PLAIN_HEADER_SIZE);
  plainHead.set(encHead);
  plainHead.set(more, ENC_HEADER_SIZE);
  if (bytesEqual(magic, MAGIC_PLAIN.bytes)) {
    if (more.length < PLAIN_HEADER_SIZE - ENC_HEADER_SIZE) throw new PacketError(`${what}: not enough data to read a plain packet header`);
    const p = decodePlainHeader(plainHead, what);
    if (opts.dump) {
      const body = rest(new Uint8Array(0), reader);
      await writeAll(opts.out!, opts.decompress ? zstdDecompress(body) : body);
      return '';
    }
    let path: string;
    /** JSON: the path's raw value and the name it resolves to. */
    let raw: string | string[];
    let pathName: string | null = null;
    switch (p.type) {
      case PktType.Exec:
      case PktType.ExecFat:
        path = printable(p.path.map((b) => (b === 0 ? 0x20 : b))); // a remote's arguments, shown safely
        raw = Buffer.from(p.path).toString('utf8').split('\0');
        break;
      case PktType.Trns: {
        path = raw = base32Encode(p.path);
        const n = cfg.neighbours.get(path);
        if (n) path += ` (${(pathName = n.name)})`;
        break;
      }
      case PktType.Area: {
        path = raw = base32Encode(p.path);
        const a = areaById(cfg, p.path);
        if (a) path += ` (${(pathName = a.name)})`;
        break;
      }
      case PktType.Ack:
        path = raw = base32Encode(p.path);
        break;
      default:
        path = printable(p.path); // a remote's file name, shown safely
        raw = Buffer.from(p.path).toString('utf8');
    }
    if (opts.json) {
      return jsonLine({
        packet: 'plain',
        payload: PAYLOADS[p.type]?.key ?? null,
        nice: p.nice,
        niceName: formatNice(p.nice),
        ...(Array.isArray(raw) ? { args: raw } : { path: raw, pathName }),
      });
    }
    return `Packet type: plain\nPayload type: ${PAYLOADS[p.type]?.name}\nNiceness: ${formatNice(p.nice)} (${p.nice})\nPath: ${path}\n`;
  }
  const why = describeForeignMagic(magic);
  throw new PacketError(`${what}: unable to determine packet type (${why})`);
}
