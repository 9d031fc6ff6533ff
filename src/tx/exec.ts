/**
 * Sending exec packets (manual: nncp-exec): the plain header's path is
 * HANDLE\0ARG0\0ARG1…, its niceness is the reply niceness the remote handle
 * sees as NNCP_NICE, and the body is stdin, zstd-compressed on the fly
 * (type exec) or as is (type exec-fat). Memory stays constant whatever the
 * body's size.
 */
import { createRequire } from 'node:module';
import type { AreaConfig, Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { PigeonError } from '../errors.js';
import { iBytes } from '../format.js';
import { MAX_PATH_SIZE, PktType } from '../packet/header.js';
import { Progress } from '../progress.js';
import { readStdin } from '../stream/stdin.js';
import { logTxFailure } from './file.js';
import { txArea } from './area.js';
import { txPacket, TxResult } from './send.js';

export interface TxExecOptions {
  to: Neighbour;
  handle: string;
  args: string[];
  /** Niceness of the packet. */
  nice: number;
  /** Niceness put in the plain header (NNCP_NICE for the handle). */
  replyNice: number;
  /** The body (default: process.stdin). */
  input?: AsyncIterable<Uint8Array>;
  /** Send the body uncompressed (exec-fat). */
  noCompress?: boolean;
  minSize?: number;
  maxSize?: number;
  via?: Uint8Array[];
  /** Send to this multicast area instead (then `to` is our own node). */
  area?: AreaConfig;
}

/** zstd level used for exec bodies: the library default, as fast as the reference's default speed. */
const EXEC_ZSTD_LEVEL = 3;

const utf8 = new TextEncoder();

/** The exec packet path: handle and arguments joined by NUL bytes. */
export function execPath(handle: string, args: readonly string[]): Uint8Array {
  if (handle === '') throw new PigeonError('EUSAGE', 'exec handle is empty: name one of the handles in the remote exec section');
  for (const a of [handle, ...args]) {
    if (a.includes('\0')) throw new PigeonError('EUSAGE', `exec argument ${JSON.stringify(a)} contains a NUL byte`);
  }
  const p = utf8.encode([handle, ...args].join('\0'));
  if (p.length > MAX_PATH_SIZE) {
    throw new PigeonError('EUSAGE', `exec handle and arguments take ${p.length} bytes; a packet holds at most ${MAX_PATH_SIZE}: shorten them or pass data on stdin`);
  }
  return p;
}

type ZstdBinding = typeof import('zstd-napi/binding.js');
let zstdBinding: ZstdBinding | undefined;

/** The native zstd binding, loaded on first use (other commands, and tosses without exec packets, never pay for it). */
export function zstd(): ZstdBinding {
  zstdBinding ??= createRequire(import.meta.url)('zstd-napi/binding') as ZstdBinding;
  return zstdBinding;
}

/**
 * The compressor's choices, each made on what the data just did:
 * - zstd mode: every CHECK_BYTES of input, if the frame's output over that
 *   stretch saved less than 2% (random or already compressed data), the
 *   frame is ended and the compressor turns to raw frames (level 3 spent
 *   ~0.35 s of CPU per 256 MiB of random data finding nothing; this path
 *   0.06 s, measured in-process);
 * - raw mode: data goes out in zstd frames of raw (stored) blocks, at
 *   copying cost. Every PROBE_EVERY bytes a PROBE_BYTES sample is compressed
 *   at level 1; saving 5% or more turns zstd mode back on. Matches farther
 *   apart than a sample (repeated large blocks) are caught by zstd trials of
 *   CHECK_BYTES after 4, 8, 16, 32 then every 64 MiB of raw data.
 * Concatenated frames are one zstd stream to every decoder (libzstd,
 * nncp's klauspost/compress). Data that compresses never leaves zstd mode:
 * its output is a single frame as before (with a block ended at every check).
 */
export const ZSTD_ADAPT = { CHECK_BYTES: 4 << 20, PROBE_EVERY: 1 << 20, PROBE_BYTES: 64 << 10, FIRST_RAW: 4 << 20, MAX_RAW: 64 << 20 };

/** Largest raw block (zstd's Block_Maximum_Size, window permitting). */
const RAW_BLOCK = 128 << 10;

/**
 * Header of a zstd frame of raw blocks: magic, a descriptor with no
 * content size, checksum or dictionary and single-segment off, and a
 * 128 KiB window (exponent 7, mantissa 0), the least a full block needs.
 */
const RAW_FRAME_HEADER = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38);

/** A raw block's 3-byte header (little-endian: last flag, type 0 = raw, size). */
function rawBlockHeader(out: Uint8Array, size: number, last: boolean): Uint8Array {
  const v = (size << 3) | (last ? 1 : 0);
  out[0] = v & 0xff;
  out[1] = (v >>> 8) & 0xff;
  out[2] = (v >>> 16) & 0xff;
  return out;
}

/**
 * zstd-compress a byte stream in constant memory: one compression context
 * and one output buffer, reused, and raw frames where the data does not
 * compress (ZSTD_ADAPT). Each yielded chunk is a view of a reused buffer or
 * of the input chunk, valid until the next one is asked for (the encryptor
 * consumes chunks synchronously, as it does those of readReused).
 */
export async function* zstdCompress(src: AsyncIterable<Uint8Array>, level = EXEC_ZSTD_LEVEL, adapt = ZSTD_ADAPT): AsyncGenerator<Uint8Array> {
  const z = zstd();
  const cctx = new z.CCtx();
  cctx.setParameter(z.CParameter.compressionLevel, level);
  const out = Buffer.allocUnsafe(z.cStreamOutSize());
  const none = new Uint8Array(0);
  const blockHeader = new Uint8Array(3);
  let probeCtx: InstanceType<ZstdBinding['CCtx']> | null = null;
  let probeOut: Buffer | null = null;
  let raw = false;
  /** zstd mode: input and output since the last check. Raw mode: input since the last probe, and since raw mode began. */
  let inSince = 0;
  let outSince = 0;
  let rawSince = 0;
  let rawSpan = adapt.FIRST_RAW;
  /** Whether a sample of `b` would shrink by 5% or more at level 1. */
  const compressible = (b: Uint8Array): boolean => {
    probeCtx ??= new z.CCtx();
    probeOut ??= Buffer.allocUnsafe(z.compressBound(adapt.PROBE_BYTES));
    const sample = b.subarray(0, adapt.PROBE_BYTES);
    return probeCtx.compress(probeOut, sample, 1) < sample.length * 0.95;
  };
  /** End the current zstd frame. */
  function* endFrame(): Generator<Uint8Array> {
    for (;;) {
      const [left, produced] = cctx.compressStream2(out, none, z.EndDirective.end);
      if (produced > 0) yield out.subarray(0, produced);
      if (left === 0) return;
    }
  }
  for await (const chunk of src) {
    let input = chunk;
    while (input.length > 0) {
      if (raw) {
        const trial = rawSince >= rawSpan;
        // Probe at most every PROBE_EVERY bytes, on a full sample (the next chunk's start, if this one ends short).
        if (inSince >= adapt.PROBE_EVERY && (trial || input.length >= adapt.PROBE_BYTES)) {
          inSince = 0;
          if (trial || compressible(input)) {
            // Back to zstd: close the raw frame with an empty last block.
            yield rawBlockHeader(blockHeader, 0, true);
            raw = false;
            rawSpan = trial ? Math.min(rawSpan * 2, adapt.MAX_RAW) : adapt.FIRST_RAW;
            outSince = 0;
            continue;
          }
        }
        const n = Math.min(input.length, RAW_BLOCK, inSince < adapt.PROBE_EVERY ? adapt.PROBE_EVERY - inSince : RAW_BLOCK);
        yield rawBlockHeader(blockHeader, n, false);
        yield input.subarray(0, n);
        input = input.subarray(n);
        inSince += n;
        rawSince += n;
        continue;
      }
      const n = Math.min(input.length, adapt.CHECK_BYTES - inSince);
      let part = input.subarray(0, n);
      input = input.subarray(n);
      inSince += n;
      while (part.length > 0) {
        const [, produced, consumed] = cctx.compressStream2(out, part, z.EndDirective.continue);
        part = part.subarray(consumed);
        outSince += produced;
        if (produced > 0) yield out.subarray(0, produced);
      }
      if (inSince >= adapt.CHECK_BYTES) {
        // Flush the block under way, so that the output counted is all that this input became.
        for (;;) {
          const [left, produced] = cctx.compressStream2(out, none, z.EndDirective.flush);
          outSince += produced;
          if (produced > 0) yield out.subarray(0, produced);
          if (left === 0) break;
        }
        const incompressible = outSince >= inSince * 0.98;
        inSince = 0;
        outSince = 0;
        if (incompressible) {
          yield* endFrame();
          yield RAW_FRAME_HEADER;
          raw = true;
          rawSince = 0;
        } else {
          rawSpan = adapt.FIRST_RAW;
        }
      }
    }
  }
  if (raw) yield rawBlockHeader(blockHeader, 0, true);
  else yield* endFrame();
}

function execFields(o: TxExecOptions, dst: string, size: number, pkt: string) {
  return [
    ['Type', 'exec'],
    ['Node', o.to.idB32],
    ['Nice', o.nice],
    ['ReplyNice', o.replyNice],
    ['Dst', dst],
    ['Size', size],
    ['Pkt', pkt],
  ] as const;
}

/** Queue an exec packet for `to`; logs a "tx" record as the reference does. */
export async function txExec(ctx: Context, o: TxExecOptions): Promise<TxResult> {
  const p = execPath(o.handle, o.args);
  const dst = [o.handle, ...o.args].join(' ');
  const progress = new Progress({ enabled: ctx.progress, label: `Tx ${o.handle}` });
  const body = progress.track(o.input ?? readStdin());
  try {
    const common = {
      plain: { type: o.noCompress ? PktType.ExecFat : PktType.Exec, nice: o.replyNice, path: p },
      nice: o.nice,
      payload: o.noCompress ? body : zstdCompress(body),
      minSize: o.minSize,
      maxSize: o.maxSize,
    };
    const res = o.area ? await txArea(ctx, { ...common, area: o.area }) : await txPacket(ctx, { ...common, to: o.to, via: o.via });
    ctx.log.info('tx', execFields(o, dst, res.payloadSize, res.pktId), `Exec is sent to ${o.to.name}@${dst} (${iBytes(res.payloadSize)})`);
    return res;
  } catch (err) {
    progress.finish();
    logTxFailure(ctx, execFields(o, dst, 0, ''), err, `Exec is sent to ${o.to.name}@${dst} (${iBytes(0)})`);
    throw err;
  }
}
