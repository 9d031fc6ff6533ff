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
 * zstd-compress a byte stream in constant memory: one compression context
 * and one output buffer, reused. Each yielded chunk is a view of that buffer,
 * valid until the next one is asked for (the encryptor consumes chunks
 * synchronously, as it does those of readReused).
 */
async function* zstdCompress(src: AsyncIterable<Uint8Array>, level = EXEC_ZSTD_LEVEL): AsyncGenerator<Uint8Array> {
  const z = zstd();
  const cctx = new z.CCtx();
  cctx.setParameter(z.CParameter.compressionLevel, level);
  const out = Buffer.allocUnsafe(z.cStreamOutSize());
  for await (const chunk of src) {
    let input = chunk;
    while (input.length > 0) {
      const [, produced, consumed] = cctx.compressStream2(out, input, z.EndDirective.continue);
      input = input.subarray(consumed);
      if (produced > 0) yield out.subarray(0, produced);
    }
  }
  const none = new Uint8Array(0);
  for (;;) {
    const [left, produced] = cctx.compressStream2(out, none, z.EndDirective.end);
    if (produced > 0) yield out.subarray(0, produced);
    if (left === 0) return;
  }
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
