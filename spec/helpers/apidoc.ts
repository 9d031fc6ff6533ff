/**
 * docs/api.md's example: extracted, and run against a package directory
 * (this repository, or an installed copy) linked as node_modules/pigeon-nncp.
 */
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { tmpNodes } from './nncp.js';
import { run } from './util.js';

const repo = process.cwd();

export function apiExample(): string {
  const doc = fs.readFileSync(path.join(repo, 'docs', 'api.md'), 'utf8');
  const m = /```js\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('## Example')));
  if (!m) throw new Error('docs/api.md has no example block');
  return m[1];
}

/** Two fresh nodes and the example in DIR/example.mjs with `pigeon-nncp` linked to `pkgDir`; runs it. */
export async function runApiExample(t: ExecutionContext, pkgDir: string) {
  const nodes = await tmpNodes(t, ['alice', 'bob'], { generator: 'pigeon' });
  const dir = path.dirname(nodes.alice.dir);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(pkgDir, path.join(dir, 'node_modules', 'pigeon-nncp'));
  fs.writeFileSync(path.join(dir, 'example.mjs'), apiExample());
  const r = await run(process.execPath, ['example.mjs'], {
    cwd: dir,
    env: { ALICE: nodes.alice.cfgPath, BOB: nodes.bob.cfgPath, STICK: path.join(dir, 'stick'), NNCPNOSYNC: '1', NNCPCFG: '/nonexistent/on/purpose.hjson' },
  });
  return { r, nodes, dir };
}

