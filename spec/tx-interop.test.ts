/**
 * Packets made by pigeon's sending commands, tossed by the reference
 * (nncp-toss 8.8.2) on the receiving node, give the same result as the same
 * nncp-* command: files, directory archives, chunked files reassembled by
 * nncp-reass, exec handles run with the same argv/stdin/environment, freq
 * replies, ACKs that clear the sender's queue, relays through via and trns,
 * area messages relayed to subscribers.
 * And chunked files made by the reference are reassembled by pigeon reass.
 * Packets are carried between spools by moving them from SENDER/tx to
 * RECIPIENT/rx, as xfer would.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { generateAreaKeys } from '../src/crypto/keys.js';
import { makeNodes, tmpNodes, type TestNode } from './helpers/nncp.js';
import { asText, packetIds, requireNncp, run, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const ENV = { NNCPNOSYNC: '1' };

const txDir = (from: TestNode, to: TestNode) => path.join(from.spool, to.idB32, 'tx');
const rxDir = (at: TestNode, from: TestNode) => path.join(at.spool, from.idB32, 'rx');

/** Carry every packet queued at `from` for `to` into `to`'s rx queue (copy with keep). */
function deliver(from: TestNode, to: TestNode, keep = false): string[] {
  const moved = packetIds(txDir(from, to));
  fs.mkdirSync(rxDir(to, from), { recursive: true });
  for (const id of moved) {
    const src = path.join(txDir(from, to), id);
    if (keep) fs.copyFileSync(src, path.join(rxDir(to, from), id));
    else fs.renameSync(src, path.join(rxDir(to, from), id));
  }
  return moved;
}

async function pigeon(t: ExecutionContext, args: string[], input?: string | Uint8Array): Promise<void> {
  const r = await runPigeon([...args.slice(0, 1), '-noprogress', ...args.slice(1)], { input, env: ENV });
  t.is(r.code, 0, `pigeon ${args.join(' ')}: ${r.stderr}`);
}

async function nncp(t: ExecutionContext, bin: string, args: string[], input?: string | Uint8Array): Promise<string> {
  const quietFlags = bin === 'log' || bin === 'rm' ? [] : ['-noprogress'];
  const r = await runNncp(bin, [...quietFlags, ...args], { input, env: ENV });
  t.is(r.code, 0, `nncp-${bin} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

async function toss(t: ExecutionContext, n: TestNode): Promise<void> {
  await nncp(t, 'toss', ['-cfg', n.cfgPath, '-quiet']);
}

test('files from pigeon file (regular, stdin, into a subdirectory, empty) land in the reference\'s incoming directory intact; nncp-log reads pigeon\'s records', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' } });
  const data = randomBytes(400_000);
  const src = path.join(alice.dir, 'data.bin');
  fs.writeFileSync(src, data);
  fs.writeFileSync(path.join(alice.dir, 'empty'), '');
  await pigeon(t, ['file', '-cfg', alice.cfgPath, src, 'bob:']);
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-', 'bob:docs/from-stdin.bin'], data);
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-minsize', '64', path.join(alice.dir, 'empty'), 'bob:']);
  // Several sealing batches, read straight from the file into them.
  const big = randomBytes((5 << 20) + 12345);
  fs.writeFileSync(path.join(alice.dir, 'big.bin'), big);
  await pigeon(t, ['file', '-cfg', alice.cfgPath, path.join(alice.dir, 'big.bin'), 'bob:']);
  t.is(deliver(alice, bob).length, 4);
  await toss(t, bob);
  t.true(fs.readFileSync(path.join(bob.incoming, 'big.bin')).equals(big));
  t.true(fs.readFileSync(path.join(bob.incoming, 'data.bin')).equals(data));
  t.true(fs.readFileSync(path.join(bob.incoming, 'docs', 'from-stdin.bin')).equals(data));
  t.is(fs.statSync(path.join(bob.incoming, 'empty')).size, 0);
  t.deepEqual(packetIds(rxDir(bob, alice)), [], 'every packet tossed');
  const log = await nncp(t, 'log', ['-cfg', alice.cfgPath]);
  t.regex(log, new RegExp(`^\\S+ File ${src.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(391 KiB\\) is sent to bob:data\\.bin$`, 'm'));
  t.regex(log, /^\S+ File - \(391 KiB\) is sent to bob:docs\/from-stdin\.bin$/m);
});

test('a directory sent by pigeon file is tossed by the reference as DIR.tar listing like the archive nncp-file makes of it', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob']);
  const dir = path.join(alice.dir, 'album');
  fs.mkdirSync(path.join(dir, 'disc 1'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'empty'));
  fs.writeFileSync(path.join(dir, 'disc 1', 'track.flac'), randomBytes(150_000));
  fs.writeFileSync(path.join(dir, 'cover.jpg'), randomBytes(1234));
  fs.writeFileSync(path.join(dir, 'z'.repeat(110)), 'long name');
  await pigeon(t, ['file', '-cfg', alice.cfgPath, dir, 'bob:']);
  await nncp(t, 'file', ['-cfg', alice.cfgPath, '-quiet', dir, 'bob:reference.tar']);
  deliver(alice, bob);
  await toss(t, bob);
  const ours = path.join(bob.incoming, 'album.tar');
  const theirs = path.join(bob.incoming, 'reference.tar');
  t.is(fs.statSync(ours).size, fs.statSync(theirs).size, 'same archive size');
  const a = asText(await run('tar', ['--full-time', '-tvf', ours]));
  const b = asText(await run('tar', ['--full-time', '-tvf', theirs]));
  t.is(a.code, 0, a.stderr);
  t.is(a.stdout, b.stdout);
  const out = path.join(bob.dir, 'x');
  fs.mkdirSync(out);
  t.is((await run('tar', ['-xf', ours, '-C', out])).code, 0);
  t.true(fs.readFileSync(path.join(out, 'album', 'disc 1', 'track.flac')).equals(fs.readFileSync(path.join(dir, 'disc 1', 'track.flac'))));
  t.is(fs.readFileSync(path.join(out, 'album', 'z'.repeat(110)), 'utf8'), 'long name');
});

test('pigeon file -chunked: the reference tosses the chunks, nncp-reass reassembles them, and the meta file equals nncp-file\'s byte for byte', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob']);
  const data = randomBytes(700_000);
  const src = path.join(alice.dir, 'big');
  fs.writeFileSync(src, data);
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-chunked', '256', src, 'bob:ours']);
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-chunked', '256', '-', 'bob:ours-stdin'], data);
  await nncp(t, 'file', ['-cfg', alice.cfgPath, '-quiet', '-chunked', '256', src, 'bob:theirs']);
  deliver(alice, bob);
  await toss(t, bob);
  t.true(fs.readFileSync(path.join(bob.incoming, 'ours.nncp.meta')).equals(fs.readFileSync(path.join(bob.incoming, 'theirs.nncp.meta'))));
  t.true(fs.readFileSync(path.join(bob.incoming, 'ours-stdin.nncp.meta')).equals(fs.readFileSync(path.join(bob.incoming, 'theirs.nncp.meta'))));
  await nncp(t, 'reass', ['-cfg', bob.cfgPath, '-quiet', path.join(bob.incoming, 'ours.nncp.meta')]);
  await nncp(t, 'reass', ['-cfg', bob.cfgPath, '-quiet', path.join(bob.incoming, 'ours-stdin.nncp.meta')]);
  t.true(fs.readFileSync(path.join(bob.incoming, 'ours')).equals(data));
  t.true(fs.readFileSync(path.join(bob.incoming, 'ours-stdin')).equals(data));
});

test('chunked files made by nncp-file are reassembled by pigeon reass (and -dump prints what nncp-reass prints)', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob'], { generator: { alice: 'nncp', bob: 'pigeon' } });
  const data = randomBytes(2 * 131072);
  const src = path.join(alice.dir, 'exact');
  fs.writeFileSync(src, data);
  await nncp(t, 'file', ['-cfg', alice.cfgPath, '-quiet', '-chunked', '128', src, 'bob:']);
  await nncp(t, 'file', ['-cfg', alice.cfgPath, '-quiet', '-chunked', '100', '-', 'bob:piped'], data);
  deliver(alice, bob);
  await toss(t, bob);
  const meta = path.join(bob.incoming, 'exact.nncp.meta');
  const ours = await runPigeon(['reass', '-cfg', bob.cfgPath, '-dump', meta]);
  const theirs = await runNncp('reass', ['-cfg', bob.cfgPath, '-dump', meta]);
  t.is(ours.stdout.toString(), theirs.stdout.toString());
  await pigeon(t, ['reass', '-cfg', bob.cfgPath, '-node', 'alice']);
  t.true(fs.readFileSync(path.join(bob.incoming, 'exact')).equals(data));
  t.true(fs.readFileSync(path.join(bob.incoming, 'piped')).equals(data));
  t.deepEqual(fs.readdirSync(bob.incoming).sort(), ['exact', 'piped'], 'chunks and metas removed');
});

test('exec from pigeon and from nncp-exec run the reference\'s handle with the same argv, stdin and environment (compressed and -nocompress)', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const out = path.join(root, 'out');
  const handle = ['/bin/sh', '-c', `{ printf '%s|' "$@"; echo; env | grep '^NNCP_' | sort; cat; } > ${out}`, 'handle'];
  const { alice, bob } = await makeNodes(root, ['alice', 'bob'], { exec: { rec: handle } });
  const body = randomBytes(50_000).toString('base64');
  const results: string[] = [];
  const sends: [string, string[]][] = [
    ['pigeon', ['exec', '-cfg', alice.cfgPath, '-replynice', 'F+3', 'bob', 'rec', '-x', 'two words', '--y=z']],
    ['nncp', ['-cfg', alice.cfgPath, '-quiet', '-replynice', 'F+3', 'bob', 'rec', '-x', 'two words', '--y=z']],
    ['pigeon', ['exec', '-cfg', alice.cfgPath, '-nocompress', 'bob', 'rec', 'fat']],
    ['nncp', ['-cfg', alice.cfgPath, '-quiet', '-nocompress', 'bob', 'rec', 'fat']],
  ];
  for (const [who, args] of sends) {
    if (who === 'pigeon') await pigeon(t, args, body);
    else await nncp(t, 'exec', args, body);
    deliver(alice, bob);
    await toss(t, bob);
    results.push(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out);
  }
  t.is(results[0], results[1]);
  t.is(results[2], results[3]);
  t.true(results[0].startsWith(`-x|two words|--y=z|\nNNCP_NICE=35\nNNCP_SELF=${bob.idB32}\nNNCP_SENDER=${alice.idB32}\n`), results[0].slice(0, 200));
  t.true(results[0].endsWith(body));
});

test('freq from pigeon: the reference answers from its freq.path with the requested name and reply niceness', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' } });
  const data = randomBytes(30_000);
  fs.mkdirSync(path.join(bob.freqDir, 'music'));
  fs.writeFileSync(path.join(bob.freqDir, 'music', 'song.ogg'), data);
  await pigeon(t, ['freq', '-cfg', alice.cfgPath, '-replynice', 'P', 'bob:music/song.ogg', 'mine.ogg']);
  deliver(alice, bob);
  await toss(t, bob);
  const reply = packetIds(txDir(bob, alice));
  t.is(reply.length, 1, 'the reference queued the reply');
  deliver(bob, alice);
  await toss(t, alice);
  t.true(fs.readFileSync(path.join(alice.incoming, 'mine.ogg')).equals(data));
  t.regex(fs.readFileSync(alice.log, 'utf8'), /\nWho: rx\n(?:\w+: .*\n)*?Nice: 96\n(?:\w+: .*\n)*?Dst: mine\.ogg\n/, 'the reply travelled with -replynice P');
});

test('sneakernet ACKs: pigeon ack lists NODE/PKT on fd 4, nncp-rm -pkt takes those lines, and the reference sender drops its acknowledged packets', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob } = await tmpNodes(t, ['alice', 'bob'], { generator: { alice: 'nncp', bob: 'pigeon' } });
  for (const name of ['a', 'b']) await nncp(t, 'file', ['-cfg', alice.cfgPath, '-quiet', '-', `bob:${name}`], name);
  const sent = deliver(alice, bob, true);
  t.is(packetIds(txDir(alice, bob)).length, 2, 'alice keeps her copies (xfer -keep)');
  const acks = path.join(bob.dir, 'acks');
  const fd = fs.openSync(acks, 'w');
  const ack = await runPigeon(['ack', '-cfg', bob.cfgPath, '-node', 'alice'], { extraFds: ['ignore', fd], env: ENV });
  t.is(ack.code, 0, ack.stderr);
  fs.closeSync(fd);
  const lines = fs.readFileSync(acks, 'utf8').trim().split('\n');
  t.is(lines.length, 2);
  for (const l of lines) t.regex(l, new RegExp(`^${alice.idB32}/[A-Z2-7]{52}$`));
  await toss(t, bob);
  t.deepEqual(fs.readdirSync(bob.incoming).sort(), ['a', 'b']);
  const carried = deliver(bob, alice, true);
  t.is(carried.length, 2);
  await nncp(t, 'rm', ['-cfg', bob.cfgPath, '-quiet', '-node', 'alice', '-pkt'], fs.readFileSync(acks));
  t.deepEqual(packetIds(txDir(bob, alice)), [], 'nncp-rm removed the ACK packets listed on fd 4');
  await toss(t, alice);
  t.deepEqual(packetIds(txDir(alice, bob)), [], `alice's acknowledged packets ${sent.join(', ')} are gone`);
});

test('via: pigeon -> nncp relay -> nncp destination, through the configured via and through pigeon trns', async (t) => {
  if (!requireNncp(t)) return;
  const { alice, bob, carol } = await tmpNodes(t, ['alice', 'bob', 'carol'], {
    generator: { alice: 'pigeon', bob: 'nncp', carol: 'nncp' },
    neighExtra: (owner, neigh) => (owner === 'alice' && neigh === 'carol' ? { via: ['bob'] } : {}),
  });
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-', 'carol:routed'], 'routed through bob');
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-via', '-', '-', 'carol:wrapped'], 'wrapped by trns');
  const [direct] = packetIds(txDir(alice, carol));
  t.truthy(direct);
  await pigeon(t, ['trns', '-cfg', alice.cfgPath, '-via', 'bob', `carol:${direct}`]);
  fs.rmSync(path.join(txDir(alice, carol), direct));
  t.is(deliver(alice, bob).length, 2);
  await toss(t, bob);
  t.deepEqual(fs.readdirSync(bob.incoming), [], 'the relay keeps nothing for itself');
  t.is(deliver(bob, carol).length, 2);
  await toss(t, carol);
  t.is(fs.readFileSync(path.join(carol.incoming, 'routed'), 'utf8'), 'routed through bob');
  t.is(fs.readFileSync(path.join(carol.incoming, 'wrapped'), 'utf8'), 'wrapped by trns');
});

test('area: pigeon file/exec to area:AREA are relayed by the reference\'s toss to the subscribers, whose toss delivers them from the area', async (t) => {
  if (!requireNncp(t)) return;
  const ak = generateAreaKeys();
  const root = await tmpDir(t);
  const areaIn = path.join(root, 'area-in');
  const out = path.join(root, 'exec.out');
  fs.mkdirSync(areaIn);
  const area = (owner: string) => ({
    areas: {
      news: {
        id: base32Encode(ak.id),
        pub: base32Encode(ak.pub),
        prv: base32Encode(ak.prv),
        subs: [owner === 'alice' ? 'bob' : 'alice'],
        ...(owner === 'bob' ? { incoming: areaIn, exec: { rec: ['/bin/sh', '-c', `cat > ${out}`] } } : {}),
      },
    },
  });
  const { alice, bob } = await makeNodes(root, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' }, topExtra: area });
  await pigeon(t, ['file', '-cfg', alice.cfgPath, '-', 'area:news:bulletin.txt'], 'read all about it');
  await pigeon(t, ['exec', '-cfg', alice.cfgPath, 'area:news', 'rec'], 'area exec');
  // The reference may need more than one pass for area packets; its exit code is not the point here.
  const tossAll = async (n: TestNode) => {
    for (let i = 0; i < 3; i++) await runNncp('toss', ['-cfg', n.cfgPath, '-quiet', '-noprogress'], { env: ENV });
  };
  await tossAll(alice);
  t.deepEqual(packetIds(txDir(alice, alice)), [], 'alice tossed her area packets');
  t.is(deliver(alice, bob).length, 2, 'one copy for the subscriber per message');
  await tossAll(bob);
  t.is(fs.readFileSync(path.join(areaIn, 'bulletin.txt'), 'utf8'), 'read all about it');
  t.is(fs.readFileSync(out, 'utf8'), 'area exec');
});
