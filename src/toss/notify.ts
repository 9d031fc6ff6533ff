/**
 * Notification mail (the configuration's `notify` section): after a file,
 * a freq or an exec packet was handled, a message goes to the configured
 * address through our own sendmail handle (neigh.self.exec.sendmail, its
 * argv with the recipient appended), as the reference sends it:
 *
 *   From: FROM
 *   To: TO
 *   Subject: File from NODE: DST (SIZE)     | Freq from NODE: SRC | Exec from NODE: HANDLE ARGS
 *
 * with LF line ends and no final newline. Only an exec's mail has a body:
 * the handle's combined stdout and stderr (at most the first 64 KiB kept
 * by toss/exec.ts), as one line of base64 after MIME headers, when there
 * was any output. A subject holding anything outside printable ASCII (tab
 * aside) is written as RFC 2047 encoded-words, as Go's mime package
 * writes them. An exec's address is looked up as "NODE.HANDLE" first,
 * then "*.HANDLE".
 *
 * The packet is delivered whatever becomes of its notification: a mailer
 * that fails, or is missing, is logged as an error (Who: rx-notify) and
 * the toss goes on, its exit status untouched, as the reference's does.
 * sendmail runs with toss's environment; its output is discarded.
 */
import type { Config, FromTo } from '../config/types.js';
import type { LogFields } from '../log/log.js';
import { runHandle } from './exec.js';
import type { Tossing } from './common.js';

export type NotifyKind = 'file' | 'freq' | 'exec';

/** Where a notification for this packet goes, or undefined when none is configured. */
export function notifyAddress(cfg: Config, kind: NotifyKind, sender: string, handle?: string): FromTo | undefined {
  const n = cfg.notify;
  if (!n) return undefined;
  if (kind !== 'exec') return n[kind];
  return n.exec.get(`${sender}.${handle}`) ?? n.exec.get(`*.${handle}`);
}

/** The longest encoded-word (RFC 2047), and the most bytes one B-encoded UTF-8 word carries. */
const MAX_WORD = 75;
const WORD_OPEN = '=?UTF-8?b?';
const MAX_WORD_BYTES = Math.floor((MAX_WORD - WORD_OPEN.length - 2) / 4) * 3;

/**
 * A header value as Go's mime.BEncoding.Encode("UTF-8", s) writes it: as it
 * is when every character is printable ASCII or a tab; else encoded-words
 * of at most 75 characters, separated by a space, characters never split.
 */
export function encodeHeaderWords(s: string): string {
  if (!/[^\t\x20-\x7e]/.test(s)) return s;
  const bytes = Buffer.from(s, 'utf8');
  const words: Buffer[] = [];
  if (Math.ceil(bytes.length / 3) * 4 <= MAX_WORD - WORD_OPEN.length - 2) words.push(bytes);
  else {
    let start = 0;
    let len = 0;
    for (const ch of s) {
      const n = Buffer.byteLength(ch, 'utf8');
      if (len + n > MAX_WORD_BYTES) {
        words.push(bytes.subarray(start, start + len));
        start += len;
        len = 0;
      }
      len += n;
    }
    words.push(bytes.subarray(start, start + len));
  }
  return words.map((w) => `${WORD_OPEN}${w.toString('base64')}?=`).join(' ');
}

/** The message handed to sendmail. */
export function mailMessage(to: FromTo, subject: string, body?: Uint8Array): Buffer {
  let text = `From: ${to.from}\nTo: ${to.to}\nSubject: ${encodeHeaderWords(subject)}`;
  if (body && body.length > 0) {
    text += '\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n';
    text += Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
  }
  return Buffer.from(text, 'utf8');
}

/**
 * Send the notification for a handled packet, if one is configured:
 * `fields` and `prefix` are the packet's, for the error record. Never
 * throws: a failure is logged.
 */
export async function notifyHandled(t: Tossing, what: { kind: NotifyKind; handle?: string; subject: string; body?: Uint8Array; fields: LogFields; prefix: string }): Promise<void> {
  const { ctx } = t;
  if (t.opts.dryRun) return;
  const to = notifyAddress(ctx.cfg, what.kind, t.origin.name, what.handle);
  if (!to) return;
  const sendmail = ctx.cfg.byName.get('self')?.exec.get('sendmail');
  if (!sendmail || sendmail.length === 0) {
    ctx.log.error('rx-notify', what.fields, `notify.${what.kind} is set but neigh.self.exec.sendmail is not: add the mailer there, like sendmail: ["/usr/sbin/sendmail"]`, `${what.prefix}: notifying`);
    return;
  }
  const message = mailMessage(to, what.subject, what.body);
  const r = await runHandle([...sendmail, to.to], { ...process.env }, once(message));
  if (r.error !== undefined) ctx.log.error('rx-notify', what.fields, r.error, `${what.prefix}: notifying`);
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}
