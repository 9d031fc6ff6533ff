/**
 * Start-up: whole short commands against `node -e 0` (the floor of any Node
 * program) and the reference, in one run:
 *   toss            on an empty spool
 *   file            of a 100-byte file (NNCPNOSYNC=1; the queue is emptied between runs)
 *   stat            of an empty spool
 * Every round runs each contender once, the order rotating from round to
 * round; wall time is measured here (hrtime around spawn and exit), so the
 * figures have microsecond resolution. Medians, ranges, and ratios to
 * `node -e 0`. Pigeon is its executable, bin/pigeon.cjs, run through its
 * #! line as a user runs it (or PIGEON_JS, a JavaScript entry run by node).
 *
 * Every contender runs without NODE_EXTRA_CA_CERTS. With that variable set,
 * Node 20 builds its certificate store as it starts (30-50 ms here, where
 * the project's machines set it): `node -e 0` would then measure that, and
 * Pigeon's executable, which sets the variable aside (bin/pigeon.cjs),
 * would look closer to bare Node than it is. When the variable is set
 * around the bench, `node -e 0` with it is timed in the same rounds and
 * shown beside the rest, not as the target's measure.
 * Usage: node dist/bench/startup.js [RUNS=21] [PIGEON_JS]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes } from '../spec/helpers/nncp.js';
import { median, PIGEON_BIN, resetPair, type SummaryRow } from './lib.js';

/** Wall seconds of one run; rejects on a non-zero exit. */
function wall(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim()}`));
      else resolve(s);
    });
  });
}

const ms = (s: number) => (s * 1000).toFixed(1);

/** Target (issue 11, item 2): each at most 1.6x `node -e 0`. With `rows`, summary rows are added there. */
export async function benchStartup(opts: { runs: number; pigeon?: string; rows?: SummaryRow[] }): Promise<string> {
  const pigeonJs = opts.pigeon;
  const withCerts = process.env.NODE_EXTRA_CA_CERTS;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-startup-'));
  try {
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
    const tiny = path.join(dir, 'tiny');
    await writeFile(tiny, 'x'.repeat(100));
    const stick = path.join(dir, 'stick');
    const env = { NNCPNOSYNC: '1', NODE_EXTRA_CA_CERTS: undefined };
    const node = process.execPath;
    const floor = { name: 'node -e 0', run: () => wall(node, ['-e', '0'], env) };
    const CERTS = 'node -e 0, NODE_EXTRA_CA_CERTS set';
    const floorWithCerts = withCerts === undefined ? [] : [{ name: CERTS, run: () => wall(node, ['-e', '0'], { ...env, NODE_EXTRA_CA_CERTS: withCerts }) }];
    const work: { title: string; args: string[]; reset?: () => Promise<void> }[] = [
      { title: 'toss, empty spool', args: ['toss', '-quiet', '-cfg', bob.cfgPath] },
      { title: 'file, 100 bytes', args: ['file', '-quiet', '-cfg', alice.cfgPath, tiny, 'bob:'], reset: () => resetPair(alice, bob, stick) },
      { title: 'stat, empty spool', args: ['stat', '-cfg', bob.cfgPath] },
    ];
    const out: string[] = [];
    const all: string[] = [
      `## Start-up, ${opts.runs} rounds (NNCPNOSYNC=1, NODE_EXTRA_CA_CERTS unset); ms, medians [min-max]; ratios to \`node -e 0\` of the same rounds`,
      `| work | node -e 0 | pigeon | nncp | pigeon / node -e 0 | pigeon / nncp |${withCerts === undefined ? '' : ' node -e 0 with NODE_EXTRA_CA_CERTS (as set around the bench) |'}`,
      `|---|---|---|---|---|---|${withCerts === undefined ? '' : '---|'}`,
    ];
    for (const w of work) {
      const contenders = [
        floor,
        { name: 'pigeon', run: () => (pigeonJs ? wall(node, [pigeonJs, ...w.args], env) : wall(PIGEON_BIN, w.args, env)) },
        { name: 'nncp', run: () => wall(`nncp-${w.args[0]}`, w.args.slice(1), env) },
        ...floorWithCerts,
      ];
      const t: Record<string, number[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
      // One untimed round warms the page cache for every contender.
      for (const c of contenders) {
        await w.reset?.();
        await c.run();
      }
      for (let i = 0; i < opts.runs; i++) {
        const k = i % contenders.length;
        for (const c of [...contenders.slice(k), ...contenders.slice(0, k)]) {
          await w.reset?.();
          t[c.name].push(await c.run());
        }
      }
      opts.rows?.push({ work: `start-up: ${w.title}`, mode: 'NNCPNOSYNC=1', pigeon: t.pigeon, versus: t['node -e 0'], versusName: 'node -e 0', target: 1.6 });
      const med = (n: string) => median(t[n]);
      const cell = (n: string) => `${ms(med(n))} [${ms(Math.min(...t[n]))}-${ms(Math.max(...t[n]))}]`;
      all.push(
        `| ${w.title} | ${cell('node -e 0')} | ${cell('pigeon')} | ${cell('nncp')} | ${(med('pigeon') / med('node -e 0')).toFixed(2)} | ${(med('pigeon') / med('nncp')).toFixed(1)} |${withCerts === undefined ? '' : ` ${cell(CERTS)} |`}`,
      );
    }
    out.push(all.join('\n'));
    return out.join('\n') + '\n';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const runs = Number(args[0] ?? 21);
  if (!(runs > 0 && Number.isInteger(runs))) {
    process.stderr.write('usage: node dist/bench/startup.js [RUNS=21] [PIGEON_JS]\n');
    process.exit(2);
  }
  process.stdout.write(await benchStartup({ runs, pigeon: args[1] ? path.resolve(args[1]) : undefined }));
}
