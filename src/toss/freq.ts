/**
 * freq packets: the sender asks for a file from the directory its `freq.path`
 * names; the payload is where it wants it (its destination path). The reply
 * is queued with txFile, at the niceness the request's plain header carries
 * (the requester's -replynice), chunked and padded as the sender's freq
 * section says.
 *
 * The requested path must stay inside `freq.path`: absolute paths and
 * climbing out are refused as the reference refuses them, and so is a
 * symlink inside `freq.path` leading outside it (the reference follows
 * those).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PacketError } from '../errors.js';
import { txFile } from '../tx/file.js';
import { isInside, pathText, TossFailure, tossingPrefix, withFields, checkAbort, type Outcome, type Tossing } from './common.js';
import { DestinationError, relativeComponents } from './file.js';
import { notifyHandled } from './notify.js';

/** A destination path longer than this is not a path (a plain header holds 255 bytes). */
const MAX_DST = 4096;

export async function tossFreq(t: Tossing): Promise<Outcome> {
  const { ctx, opts, origin } = t;
  const src = pathText(t.plain);
  let fields = withFields(t.fields, ['Type', 'freq'], ['Src', src]);
  const prefix = `${tossingPrefix(t, 'freq')}: ${src}`;

  let components: string[];
  try {
    components = relativeComponents(t.plain.path, 'source');
  } catch (err) {
    if (!(err instanceof DestinationError)) throw err;
    if (err.fault === 'non-rel') throw new TossFailure('rx-non-rel', fields, err.message, `${prefix}: notifying`);
    components = []; // climbing out: refused below, once the destination is known (as the reference orders it)
  }

  let dst: string;
  try {
    dst = await readSmall(t.body, MAX_DST, opts.signal);
  } catch (err) {
    throw new TossFailure('rx-read', fields, err, `${prefix}: reading`);
  }
  fields = withFields(fields, ['Dst', dst]);
  const prefixDst = `${prefix} -> ${dst}`;
  const freqPath = origin.freq.path;
  if (freqPath === undefined) throw new TossFailure('rx-no-freq', fields, 'freqing is not allowed', prefixDst);
  if (components.length === 0) throw new TossFailure('rx-no-freq', fields, 'freqing path traversal', prefixDst);

  if (!opts.dryRun) {
    // Symlinks inside freq.path may point anywhere: the file actually read must be inside it.
    let real: string;
    try {
      const realBase = await fsp.realpath(freqPath);
      real = await fsp.realpath(path.join(realBase, ...components));
      if (!isInside(real, realBase)) throw new TossFailure('rx-no-freq', fields, 'freqing path traversal', prefixDst);
    } catch (err) {
      if (err instanceof TossFailure) throw err;
      throw new TossFailure('rx-tx', fields, err, `${prefixDst}: txing`);
    }
    try {
      await txFile(ctx, {
        to: findNeighbour(t),
        src: real,
        dst,
        nice: t.plain.nice,
        chunked: origin.freq.chunked,
        minSize: origin.freq.minSize,
        maxSize: origin.freq.maxSize,
      });
    } catch (err) {
      throw new TossFailure('rx-tx', fields, err, `${prefixDst}: txing`);
    }
  }
  ctx.log.info('rx', fields, `Got file request ${src} to ${origin.name}`);
  await notifyHandled(t, { kind: 'freq', subject: `Freq from ${origin.name}: ${src}`, fields, prefix: prefixDst });
  return 'done';
}

function findNeighbour(t: Tossing) {
  const n = t.ctx.cfg.neighbours.get(t.origin.idB32);
  if (!n) throw new PacketError(`no neighbour ${t.origin.idB32} to reply to`);
  return n;
}

/** The whole body as UTF-8 text, refusing more than `limit` bytes (it is read to its end either way). */
async function readSmall(body: AsyncIterable<Uint8Array>, limit: number, signal?: AbortSignal): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of body) {
    checkAbort(signal);
    size += c.length;
    if (size <= limit) parts.push(c.slice());
  }
  if (size > limit) throw new PacketError(`destination path of ${size} bytes is too long`);
  return Buffer.concat(parts).toString('utf8');
}
