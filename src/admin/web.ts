/**
 * `pigeon web`: the status page (html.ts) and its data (status.ts) over
 * HTTP, read-only, built afresh for each request. It listens on loopback
 * unless told otherwise. GET (or HEAD) "/" is the page, "/status.json" the
 * `stat -json` objects as one array; any other path is 404, any other
 * method 405. Nothing a request sends reaches the spool.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from '../context.js';
import { PigeonError } from '../errors.js';
import { joinHostPort, splitHostPort } from '../sp/call.js';
import { statusPage } from './html.js';
import { spoolStatus } from './status.js';

export const DEFAULT_WEB_BIND = '127.0.0.1:5480';

export interface StatusServer {
  /** host:port actually bound (port resolved when 0 was asked for). */
  address: string;
  /** Whether the address is a loopback one. */
  loopback: boolean;
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

async function respond(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const send = (code: number, type: string, body: string, extra: Record<string, string> = {}): void => {
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'read-only: GET or HEAD\n', { allow: 'GET, HEAD' });
  const url = (req.url ?? '/').split('?')[0];
  if (url === '/') {
    const page = statusPage(await spoolStatus(ctx), { title: ctx.cfg.spool });
    return send(200, 'text/html; charset=utf-8', page, { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" });
  }
  if (url === '/status.json') return send(200, 'application/json', JSON.stringify(await spoolStatus(ctx)) + '\n');
  return send(404, 'text/plain; charset=utf-8', 'not found: / (page) and /status.json (data)\n');
}

/** Serve the status on `bind` (host:port; default loopback). Resolves once listening. */
export async function serveStatus(ctx: Context, bind = DEFAULT_WEB_BIND): Promise<StatusServer> {
  const { host, port } = splitHostPort(bind);
  const server = http.createServer((req, res) => {
    respond(ctx, req, res).catch((err) => {
      ctx.log.error('web', [['Url', req.url ?? '']], err, 'Status page');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('status unavailable; see the log\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new PigeonError('EUSAGE', `-bind ${bind}: cannot listen: ${err.code ?? err.message}`, { cause: err })));
    server.listen(port, host || undefined, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: joinHostPort(a.address, a.port),
    loopback: isLoopback(a.address),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
