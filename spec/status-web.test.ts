/**
 * `pigeon web`: the status page and its JSON over HTTP, read-only, on
 * loopback by default; the running executable serves it and stops on
 * SIGTERM.
 */
import test from 'ava';
import { serveStatus } from '../src/admin/web.js';
import { lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { freePort, listening, startPigeon } from './helpers/util.js';

test('serveStatus: GET / is the page, /status.json the data; other paths 404, other methods 405; loopback by default', async (t) => {
  const l = await lab(t, ['me', 'alice']);
  await queueFile(l.ctx.me, 'alice', 'x.bin', 2000, 96);
  const srv = await serveStatus(l.ctx.me, '127.0.0.1:0');
  t.teardown(() => srv.close());
  t.true(srv.loopback);
  const base = `http://${srv.address}`;
  const page = await fetch(base + '/');
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type')!, /^text\/html/);
  t.regex(page.headers.get('content-security-policy')!, /default-src 'none'/);
  const html = await page.text();
  t.regex(html, /<tr id="node-alice">/);
  const data = await (await fetch(base + '/status.json')).json();
  t.deepEqual(data.map((s: any) => [s.node, s.tx.pkts]), [['alice', 1], ['self', 0]]);
  t.is((await fetch(base + '/etc/passwd')).status, 404);
  const post = await fetch(base + '/', { method: 'POST', body: 'x' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  // the page follows the spool: a second packet shows up on the next request
  await queueFile(l.ctx.me, 'alice', 'y.bin', 2000, 96);
  const again = await (await fetch(base + '/status.json')).json();
  t.is(again[0].tx.pkts, 2);
});

test('serveStatus: a bad -bind is one line naming it', async (t) => {
  const l = await lab(t, ['me']);
  await t.throwsAsync(serveStatus(l.ctx.me, '127.0.0.1'), { message: /address 127\.0\.0\.1: missing port/ });
  const srv = await serveStatus(l.ctx.me, '127.0.0.1:0');
  t.teardown(() => srv.close());
  await t.throwsAsync(serveStatus(l.ctx.me, srv.address), { message: new RegExp(`^-bind ${srv.address.replace(/\./g, '\\.')}: cannot listen: EADDRINUSE$`) });
});

test('pigeon web -bind: serves until SIGTERM, says where on stderr', async (t) => {
  const l = await lab(t, ['me', 'alice']);
  const port = await freePort();
  const p = startPigeon(t, ['web', '-bind', `127.0.0.1:${port}`, '-cfg', l.nodes.me.cfgPath]);
  await listening(port);
  const r = await fetch(`http://127.0.0.1:${port}/`);
  t.is(r.status, 200);
  t.regex(await r.text(), /Pigeon spool status/);
  p.child.kill('SIGTERM');
  const code = await p.exited;
  t.is(code, 0);
  t.regex(p.stderr(), new RegExp(`^pigeon web: serving the status of .* on http://127\\.0\\.0\\.1:${port}/\\n$`));
});
