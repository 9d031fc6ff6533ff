/**
 * `pigeon cfgenc` — nncp-cfgenc: encrypt a configuration file into an eblob
 * (asking for the passphrase twice), decrypt one (-d, asking once), or print
 * its parameters (-dump). The passphrase is read from the terminal without
 * echo; the result goes to stdout. The format is in src/config/eblob.ts.
 */
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { bytesEqual } from '../src/codec/bytes.js';
import { costFault } from '../src/crypto/balloon.js';
import { DEFAULT_COST, describeEblob, openEblob, parseEblob, sealEblob } from '../src/config/eblob.js';
import { TerminalPassphrase } from '../src/config/passphrase.js';
import { errorLine, PigeonError } from '../src/errors.js';
import { run } from './common.js';

interface Args {
  file?: string;
  d?: boolean;
  dump?: boolean;
  s?: number;
  t?: number;
  p?: number;
}

async function readInput(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new PigeonError('EIO', `${file}: cannot read it: ${errorLine(err)}`, { cause: err });
  }
}

function writeOut(data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}

export async function cfgencMain(args: Args): Promise<number> {
  if (args.file === undefined) throw new PigeonError('EUSAGE', 'name one file: pigeon cfgenc [-s N -t N -p N] cfg.hjson > cfg.hjson.eblob, or -d / -dump cfg.hjson.eblob');
  const file = String(args.file);
  const cost = { s: args.s ?? DEFAULT_COST.s, t: args.t ?? DEFAULT_COST.t, p: args.p ?? DEFAULT_COST.p };
  if (!args.d && !args.dump) {
    const fault = costFault(cost);
    if (fault) throw new PigeonError('EUSAGE', `-s/-t/-p: ${fault}`);
  }
  const data = await readInput(file);
  if (args.dump) {
    process.stdout.write(describeEblob(parseEblob(data, file)));
    return 0;
  }
  const tty = new TerminalPassphrase();
  const secrets: Uint8Array[] = [];
  try {
    if (args.d) {
      parseEblob(data, file); // a foreign or truncated file fails before the question
      secrets.push(await tty.ask('Passphrase:'));
      tty.close();
      await writeOut(await openEblob(data, secrets[0], file));
      return 0;
    }
    secrets.push(await tty.ask('Passphrase:'));
    secrets.push(await tty.ask('Repeat passphrase:'));
    tty.close();
    if (!bytesEqual(secrets[0], secrets[1])) throw new PigeonError('EUSAGE', 'passphrases do not match');
    await writeOut(await sealEblob(data, secrets[0], cost));
    return 0;
  } finally {
    tty.close();
    for (const s of secrets) s.fill(0);
  }
}

export const cfgencCommand: CommandModule<object, Args> = {
  command: 'cfgenc [file]',
  describe: 'Encrypt a configuration file into an eblob, or decrypt one (nncp-cfgenc)',
  builder: (y: Argv<object>) =>
    y
      .positional('file', { type: 'string', describe: 'cfg.hjson to encrypt, or cfg.hjson.eblob with -d / -dump' })
      .option('d', { type: 'boolean', describe: 'Decrypt the file' })
      .option('dump', { type: 'boolean', describe: 'Print human-readable eblob information' })
      .option('s', { type: 'number', describe: `Balloon space cost, in 32 bytes chunks (default ${DEFAULT_COST.s})` })
      .option('t', { type: 'number', describe: `Balloon time cost, number of rounds (default ${DEFAULT_COST.t})` })
      .option('p', { type: 'number', describe: `Balloon number of parallel jobs (default ${DEFAULT_COST.p})` })
      .epilogue('The passphrase is read from the terminal without echo: twice to encrypt, once to decrypt. Output goes to stdout.') as Argv<Args>,
  handler: (argv) => run('cfgenc', () => cfgencMain(argv)),
};
