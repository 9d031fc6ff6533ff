/**
 * Sending to an area marks the message as seen by us through the spool
 * (Spool.markAreaSeen): the marker is SPOOL/SELF/area/AREA/MSGHASH, named
 * by packet/header.ts's areaMsgHash, and gets the configured umask like
 * every other spool file, whatever the process umask.
 */
import test from 'ava';
import fs from 'node:fs';
import { base32Encode } from '../src/codec/base32.js';
import { generateAreaKeys } from '../src/crypto/keys.js';
import { PktType } from '../src/packet/header.js';
import { txArea } from '../src/tx/area.js';
import { capturingContext, saveNode, tmpNodes } from './helpers/nncp.js';
import { chunks } from './helpers/packets.js';

test('tx to an area: the seen marker is the spool\'s, with the configured umask', async (t) => {
  const ak = generateAreaKeys();
  const { alice } = await tmpNodes(t, ['alice', 'bob']);
  alice.raw.umask = '027';
  alice.raw.areas = { myarea: { id: base32Encode(ak.id), pub: base32Encode(ak.pub), prv: base32Encode(ak.prv), subs: ['bob'] } };
  await saveNode(alice);
  const { ctx } = await capturingContext(alice.cfgPath);
  const area = ctx.cfg.areas.get('myarea')!;
  const before = process.umask(0);
  let res;
  try {
    res = await txArea(ctx, {
      area,
      plain: { type: PktType.File, nice: 255, path: new TextEncoder().encode('news.txt') },
      nice: 255,
      payload: chunks(new TextEncoder().encode('to everybody')),
    });
  } finally {
    process.umask(before);
  }
  const marker = ctx.spool.areaSeenPath(alice.idB32, area.idB32, res.msgHash);
  t.true(await ctx.spool.isAreaSeen(alice.idB32, area.idB32, res.msgHash));
  t.is(fs.statSync(marker).mode & 0o777, 0o640);
  t.is(fs.statSync(ctx.spool.areaDir(alice.idB32, area.idB32)).mode & 0o777, 0o750);
});
