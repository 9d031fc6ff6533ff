/**
 * Reading a passphrase from the terminal without echo, as NNCP does for
 * eblobs: from standard input, which must be a terminal (the reference
 * refuses a pipe or a file with "inappropriate ioctl for device", and so do
 * we, in words).
 *
 * The terminal is put in raw mode only while a line is read, so the prompt
 * and the newline after it print normally. In raw mode we do the line editing
 * the terminal would: Enter ends the line, Backspace/Delete remove a
 * character, Ctrl-U clears the line, Ctrl-C interrupts, Ctrl-D on an empty
 * line is end of input. Bytes typed ahead past a line are kept for the next
 * line (encryption asks twice) and handed back to stdin when done.
 */
import { PigeonError } from '../errors.js';

/** Asks for a passphrase, showing `prompt` on stderr; resolves to its bytes (without the newline). */
export type AskPassphrase = (prompt: string) => Promise<Uint8Array>;

interface TtyIn extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  unshift(chunk: Buffer): void;
}

/** Thrown when there is no terminal to ask; the message says what to do. */
export function notATerminal(): PigeonError {
  return new PigeonError('EUSAGE', 'cannot ask for the passphrase: standard input is not a terminal (the passphrase is read from a terminal only, as nncp-cfgenc does)');
}

/**
 * A session of passphrase questions on one terminal. `close()` gives back
 * bytes typed ahead and releases stdin so the process can exit.
 */
export class TerminalPassphrase {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly input: TtyIn = process.stdin as TtyIn,
    private readonly output: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Whether a passphrase can be asked at all. */
  get available(): boolean {
    return this.input.isTTY === true && typeof this.input.setRawMode === 'function';
  }

  /** Show `prompt`, read one line without echo, then print a newline. */
  async ask(prompt: string): Promise<Uint8Array> {
    if (!this.available) throw notATerminal();
    this.output.write(prompt);
    try {
      return await this.line();
    } finally {
      this.output.write('\n');
    }
  }

  close(): void {
    if (this.pending.length > 0) this.input.unshift(this.pending);
    this.pending = Buffer.alloc(0);
  }

  private line(): Promise<Uint8Array> {
    const input = this.input;
    const typed: number[] = [];
    return new Promise<Uint8Array>((resolve, reject) => {
      const finish = (err: Error | null, rest: Buffer) => {
        input.removeListener('data', onData);
        input.removeListener('end', onEnd);
        input.pause();
        input.setRawMode!(false);
        this.pending = rest;
        if (err) {
          typed.fill(0);
          reject(err);
        } else {
          const out = Uint8Array.from(typed);
          typed.fill(0);
          resolve(out);
        }
      };
      const onData = (chunk: Buffer | string) => {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        for (let i = 0; i < buf.length; i++) {
          const b = buf[i];
          const rest = buf.subarray(i + 1);
          if (b === 0x0d || b === 0x0a) {
            // A CR LF pair typed ahead is one line end.
            const skip = b === 0x0d && rest[0] === 0x0a ? 1 : 0;
            return finish(null, Buffer.from(rest.subarray(skip)));
          }
          if (b === 0x03) return finish(new PigeonError('EUSAGE', 'interrupted while asking for the passphrase', { exitCode: 130 }), Buffer.alloc(0));
          if (b === 0x04) {
            if (typed.length === 0) return finish(new PigeonError('EUSAGE', 'no passphrase given (end of input)'), Buffer.alloc(0));
            return finish(null, Buffer.from(rest));
          }
          if (b === 0x7f || b === 0x08) {
            // Remove one UTF-8 character: continuation bytes, then its lead.
            while (typed.length > 0 && (typed[typed.length - 1] & 0xc0) === 0x80) typed.pop();
            typed.pop();
          } else if (b === 0x15) {
            typed.fill(0);
            typed.length = 0;
          } else {
            typed.push(b);
          }
        }
      };
      const onEnd = () => finish(new PigeonError('EUSAGE', 'no passphrase given (end of input)'), Buffer.alloc(0));
      input.setRawMode!(true);
      input.on('data', onData);
      input.on('end', onEnd);
      const ahead = this.pending;
      this.pending = Buffer.alloc(0);
      if (ahead.length > 0) onData(ahead);
      if (input.listenerCount('data') > 0) input.resume();
    });
  }
}
