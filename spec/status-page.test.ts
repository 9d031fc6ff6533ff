/**
 * `pigeon stat -html`: the page's content (escaped, per neighbour), and the
 * page as a real browser shows it: headless Chromium (Debian's `chromium`)
 * dumps the DOM it built and takes a screenshot, which must decode as a
 * PNG of the asked size that is not blank and shows the table's header
 * colour. Without chromium the browser test is skipped, loudly, unless CI
 * is set, where it fails.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { statusPage } from '../src/admin/html.js';
import { lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { runPigeon, tmpDir } from './helpers/util.js';

function chromium(): string | null {
  for (const c of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.trim();
  }
  return null;
}

/** A page for me (a file queued for alice, an error about bob in the log) written to DIR/status.html. */
async function page(t: any): Promise<{ file: string; html: string; l: Awaited<ReturnType<typeof lab>> }> {
  const l = await lab(t, ['me', 'alice', 'bob']);
  await queueFile(l.ctx.me, 'alice', 'big.bin', 300_000, 96);
  l.ctx.me.log.info('call-finished', [['Node', l.nodes.alice.idB32]], 'Finished call with alice');
  l.ctx.me.log.error('rx', [['Node', l.nodes.bob.idB32]], new Error('bad <b>thing</b> & "more"'), 'Tossing');
  const r = await runPigeon(['stat', '-html', '-cfg', l.nodes.me.cfgPath]);
  t.is(r.code, 0, r.stderr);
  const file = path.join(l.dir, 'status.html');
  fs.writeFileSync(file, r.stdout);
  return { file, html: r.stdout.toString('utf8'), l };
}

test('stat -html: one static page, a row per neighbour, values escaped, no script', async (t) => {
  const { html, l } = await page(t);
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.false(/<script/i.test(html));
  for (const n of ['alice', 'bob', 'self']) t.true(html.includes(`<tr id="node-${n}">`), n);
  t.true(html.includes('bad &#60;b&#62;thing&#60;/b&#62; &#38; &#34;more&#34;'));
  t.false(html.includes('<b>thing'));
  t.true(html.includes(l.nodes.me.spool));
  const alice = html.slice(html.indexOf('<tr id="node-alice">'), html.indexOf('</tr>', html.indexOf('<tr id="node-alice">')));
  t.regex(alice, /<td>1 <small>\(29\d KiB\)<\/small><\/td>/); // Tx: one packet
  t.regex(alice, /call-finished/);
  // the renderer alone: an empty spool says so
  t.regex(statusPage([], { title: '/x', now: new Date(0) }), /No errors logged\..*<\/html>/s);
});

/** Pixels of an 8-bit RGB or RGBA non-interlaced PNG, unfiltered. */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; px: Buffer } {
  if (!buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error('not a PNG');
  let off = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced');
      channels = data[9] === 2 ? 3 : data[9] === 6 ? 4 : 0;
      if (!channels) throw new Error(`colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (line[x] + pred) & 0xff;
    }
  }
  return { width, height, channels, px };
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('stat -html in headless Chromium: the DOM has the rows, the screenshot is a non-blank PNG of the asked size', async (t) => {
  const bin = chromium();
  if (!bin) {
    if (process.env.CI) t.fail('chromium is not installed (apt-get install -y chromium); CI requires it');
    else {
      process.stderr.write('status-page.test: SKIPPED the browser check: chromium is not installed (apt-get install -y chromium)\n');
      t.pass();
    }
    return;
  }
  const { file } = await page(t);
  const dir = await tmpDir(t);
  const url = 'file://' + file;
  const dom = execFileSync(bin, [...FLAGS, `--user-data-dir=${path.join(dir, 'u1')}`, '--dump-dom', url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  t.regex(dom, /<tr id="node-alice">/);
  t.regex(dom, /<h1>Pigeon spool status<\/h1>/);
  const shot = path.join(dir, 'shot.png');
  execFileSync(bin, [...FLAGS, `--user-data-dir=${path.join(dir, 'u2')}`, '--window-size=1000,700', '--hide-scrollbars', `--screenshot=${shot}`, url], { stdio: 'ignore', timeout: 60_000 });
  if (process.env.STATUS_PAGE_SHOT) fs.copyFileSync(shot, process.env.STATUS_PAGE_SHOT); // to look at it
  const png = decodePng(fs.readFileSync(shot));
  t.is(png.width, 1000);
  t.is(png.height, 700);
  const colours = new Set<number>();
  let header = 0; // pixels of the table header's #2a5d8f
  let nonWhite = 0;
  for (let i = 0; i < png.px.length; i += png.channels) {
    const [r, g, b] = [png.px[i], png.px[i + 1], png.px[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (Math.abs(r - 0x2a) < 6 && Math.abs(g - 0x5d) < 6 && Math.abs(b - 0x8f) < 6) header++;
    if (r < 250 || g < 250 || b < 250) nonWhite++;
  }
  t.true(colours.size > 20, `only ${colours.size} colours: blank?`);
  t.true(header > 1000, `table header colour on ${header} pixels`);
  t.true(nonWhite > 5000 && nonWhite < png.width * png.height * 0.9, `${nonWhite} non-white pixels`);
});
