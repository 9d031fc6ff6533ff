/**
 * xfer -rx (and so xfer -watch, which imports through the same code) killed
 * at named points (PIGEON_KILLPOINT) while taking a packet off the medium,
 * then run again: the packet is in rx/ once, intact, gone from the medium,
 * no half packet anywhere in rx/; toss then delivers it exactly once.
 * Both ways in: the copy (PIGEON_XFER_LINK=0, or a medium on another
 * filesystem) and the hard link of a medium on the spool's filesystem
 * (Spool.adoptPacket). Before `renamed` nothing is in rx/ (the spool's tmp/
 * holds the partial copy or the link, which `pigeon rm -tmp` removes); from
 * `renamed` on, the rerun takes the medium's copy again onto the same name
 * and removes it.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { xferTx } from '../src/xfer/xfer.js';
import { lab, type Lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { listFiles, runPigeon } from './helpers/util.js';

/** Four 512 KiB copy steps and a bit: "copying" dies with a partial temporary file. */
const SIZE = (2 << 20) + 4321;

const KILL_POINTS = [
  // way in, name, whether the packet is in rx/ when it dies
  ['copy', 'xfer-rx-copying', false],
  ['copy', 'xfer-rx-written', false],
  ['copy', 'xfer-rx-synced', false],
  ['copy', 'xfer-rx-closed', false],
  ['copy', 'xfer-rx-renamed', true],
  ['copy', 'xfer-rx-dirsynced', true],
  ['copy', 'xfer-rx-imported', true],
  ['link', 'xfer-rx-synced', false],
  ['link', 'xfer-rx-renamed', true],
  ['link', 'xfer-rx-dirsynced', true],
  ['link', 'xfer-rx-imported', true],
  // Without the native addon: a link through a temporary name in tmp/, checked, renamed into rx/.
  ['link, no addon', 'xfer-rx-linked', false],
  ['link, no addon', 'xfer-rx-synced', false],
  ['link, no addon', 'xfer-rx-renamed', true],
] as const;

async function setup(t: ExecutionContext): Promise<{ l: Lab; medium: string; id: string; data: Buffer; rx: string; onStick: string }> {
  const l = await lab(t, ['alice', 'bob']);
  const medium = path.join(l.dir, 'stick');
  fs.mkdirSync(medium);
  const q = await queueFile(l.ctx.alice, 'bob', 'payload.bin', SIZE);
  const r = await xferTx(l.ctx.alice, { dir: medium, mkdir: true });
  if (!r.ok) throw new Error('xfer -tx failed');
  const { alice, bob } = l.nodes;
  return { l, medium, id: q.id, data: q.data, rx: path.join(bob.spool, alice.idB32, 'rx'), onStick: path.join(medium, bob.idB32, alice.idB32, q.id) };
}

for (const [way, point, inRx] of KILL_POINTS) {
  test(`xfer -rx (${way}) killed at ${point}, rerun: in rx/ once, off the medium, delivered once`, async (t) => {
    const s = await setup(t);
    const bob = s.l.nodes.bob;
    const rxCli = (env?: NodeJS.ProcessEnv) =>
      runPigeon(['xfer', '-cfg', bob.cfgPath, '-noprogress', '-rx', s.medium], { env: { PIGEON_XFER_LINK: way === 'copy' ? '0' : '1', ...(way === 'link, no addon' ? { PIGEON_NATIVE: '0' } : {}), ...env } });
    const medium = fs.statSync(s.onStick);
    const killed = await rxCli({ PIGEON_KILLPOINT: point });
    t.regex(killed.stderr, /killed by SIGKILL/, `${point} was reached`);
    const ids = () => (fs.existsSync(s.rx) ? listFiles(s.rx).filter((n) => n.length === 52) : []);
    t.deepEqual(ids(), inRx ? [s.id] : [], 'in rx/ only from the rename on, and never under another name');
    t.true(fs.existsSync(s.onStick), 'still on the medium');
    if (inRx) {
      t.true(fs.readFileSync(path.join(s.rx, s.id)).equals(fs.readFileSync(s.onStick)), 'what is in rx/ is whole');
      t.is(fs.statSync(path.join(s.rx, s.id)).ino === medium.ino, way !== 'copy', 'linked, or copied');
    }
    // The rerun finds the file with a second name (rx/ or tmp/) after a link: it copies.
    const rerun = await rxCli();
    t.is(rerun.code, 0, rerun.stderr);
    t.deepEqual(ids(), [s.id]);
    t.false(fs.existsSync(s.onStick), 'taken off the medium');
    const rmTmp = await runPigeon(['rm', '-cfg', bob.cfgPath, '-tmp']);
    t.is(rmTmp.code, 0, rmTmp.stderr);
    t.deepEqual(fs.existsSync(path.join(bob.spool, 'tmp')) ? fs.readdirSync(path.join(bob.spool, 'tmp')) : [], [], 'rm -tmp leaves no debris');
    const toss = await runPigeon(['toss', '-cfg', bob.cfgPath, '-quiet']);
    t.is(toss.code, 0, toss.stderr);
    t.deepEqual(fs.readdirSync(bob.incoming), ['payload.bin'], 'delivered exactly once');
    t.true(fs.readFileSync(path.join(bob.incoming, 'payload.bin')).equals(s.data));
  });
}
