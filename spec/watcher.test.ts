/**
 * TreeWatch on its own (src/watcher.ts): a watched directory that goes and
 * comes back, including a removal of its parent still in progress while
 * the watch falls back to that parent.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TreeWatch } from '../src/watcher.js';
import { until } from './helpers/util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Watched {
  tw: TreeWatch;
  ready: () => number;
  gone: () => number;
  added: string[];
}

async function watched(t: ExecutionContext, root: string): Promise<Watched> {
  let ready = 0;
  let gone = 0;
  const added: string[] = [];
  const tw = new TreeWatch({
    root,
    depth: 2,
    keep: () => true,
    initial: true,
    onEvent: (event, parts) => {
      if (event === 'add') added.push(parts.join('/'));
    },
    onReady: () => ready++,
    onGone: () => gone++,
    onError: (err) => t.fail(`watch error: ${String(err)}`),
  });
  t.teardown(() => tw.close());
  await tw.start();
  return { tw, ready: () => ready, gone: () => gone, added };
}

function tmpBase(t: ExecutionContext): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pigeon-watcher-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  return base;
}

test('the root removed and made again: gone, then watched again, and the files then in it are reported', async (t) => {
  const base = tmpBase(t);
  const root = path.join(base, 'media', 'usb');
  fs.mkdirSync(path.join(root, 'a'), { recursive: true });
  const w = await watched(t, root);
  t.true(w.tw.watching);
  fs.rmSync(root, { recursive: true });
  await until(() => w.gone() === 1, 5000, 'the removal to be noticed');
  t.false(w.tw.watching);
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'pkt'), 'x');
  await until(() => w.ready() === 2 && w.added.includes('a/b/pkt'), 5000, () => `the return to be noticed: ready ${w.ready()}, added ${w.added}`);
  t.true(w.tw.watching);
});

test('the parent removed after the root, while its watch falls back to that parent: the return is still noticed', async (t) => {
  const base = tmpBase(t);
  const parent = path.join(base, 'media');
  const root = path.join(parent, 'usb');
  fs.mkdirSync(root, { recursive: true });
  const w = await watched(t, root);
  for (let round = 1; round <= 3; round++) {
    // A removal in steps, as another process's rm -r is seen: the root first; the parent once the watch waits in it.
    fs.rmSync(root, { recursive: true });
    await until(() => w.gone() === round, 5000, 'the removal to be noticed');
    await sleep(150);
    fs.rmdirSync(parent);
    await sleep(150);
    fs.mkdirSync(path.join(root, 'x'), { recursive: true });
    await until(() => w.ready() === round + 1, 5000, () => `return ${round} to be noticed (ready ${w.ready()}, gone ${w.gone()})`);
  }
  t.true(w.tw.watching);
});
