/** pigeon pkt: parse a raw packet from stdin (nncp-pkt). */
import type { CommandModule } from 'yargs';
import { loadConfig } from '../src/config/load.js';
import { inspectPacket, OVERHEADS } from '../src/packet/inspect.js';
import { commonFlags, CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  dump?: boolean;
  decompress?: boolean;
  overheads?: boolean;
  json?: boolean;
}

export const pktCommand: CommandModule<object, Args> = {
  command: 'pkt',
  describe: 'Parse a raw packet read from stdin',
  builder: (y) =>
    commonFlags(y)
      .option('dump', { type: 'boolean', describe: 'Write decrypted/parsed payload to stdout' })
      .option('decompress', { type: 'boolean', describe: 'Try to zstd decompress dumped data' })
      .option('overheads', { type: 'boolean', describe: 'Print packet overheads' })
      .option('json', { type: 'boolean', describe: 'Describe the packet as one JSON object (fields: README "Output for scripts")' })
      .epilogue('Packet is read from stdin.'),
  handler: (argv) =>
    run('pkt', async () => {
      if (argv.overheads) {
        if (argv.json) {
          process.stdout.write(JSON.stringify(OVERHEADS) + '\n');
          return 0;
        }
        process.stdout.write(`Plain: ${OVERHEADS.plain}\nEncrypted: ${OVERHEADS.encrypted}\nSize: ${OVERHEADS.size}\n`);
        return 0;
      }
      const cfg = await loadConfig({ cfg: argv.cfg, spool: argv.spool, log: argv.log });
      for (const w of cfg.warnings) process.stderr.write(`pigeon: warning: ${w}\n`);
      const text = await inspectPacket({
        input: { fd: 0 },
        cfg,
        dump: argv.dump,
        decompress: argv.decompress,
        json: argv.json,
        out: process.stdout,
        what: 'stdin',
      });
      process.stdout.write(text);
      return 0;
    }),
};
