/** pigeon ack: acknowledge received packets (nncp-ack); new ACK packets are listed on fd 4. */
import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import type { Neighbour } from '../src/config/types.js';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { DEFAULT_NICE_FREQ, formatNice, parseNice } from '../src/nice.js';
import { ackLine, ackRx, txAck } from '../src/tx/ack.js';
import { parseVia } from '../src/tx/route.js';
import { kibFlag } from './file.js';
import { commonFlags, CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  all?: boolean;
  node?: string;
  pkt?: string;
  nice: string;
  minsize: number;
  via?: string;
}

const ACKS_FD = 4;

function fdFlags(fd: number): number | null {
  try {
    const m = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? parseInt(m[1], 8) : null;
  } catch {
    return null;
  }
}

/**
 * True when file descriptor 4 was handed to us open for writing (`4>acks`,
 * `4>&1`). Node's runtime opens descriptors of its own (event loop pipes,
 * eventfds) that may land on 4 when the caller left it closed; those are
 * told apart: anonymous inodes, read-only ends, or pipes whose read end is
 * also ours. Where /proc is missing, nothing is written.
 */
export function callerFd(fd: number): boolean {
  const flags = fdFlags(fd);
  if (flags === null || (flags & 3) === 0) return false;
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (target.startsWith('anon_inode:')) return false;
  if (target.startsWith('pipe:')) {
    for (const other of fs.readdirSync('/proc/self/fd')) {
      if (Number(other) === fd) continue;
      try {
        if (fs.readlinkSync(`/proc/self/fd/${other}`) !== target) continue;
      } catch {
        continue;
      }
      const f = fdFlags(Number(other));
      if (f !== null && (f & 3) === 0) return false; // we hold its read end: an internal pipe
    }
  }
  return true;
}

function ackWriter(): (line: string) => void {
  if (!callerFd(ACKS_FD)) return () => {};
  return (line) => {
    try {
      fs.writeSync(ACKS_FD, line + '\n');
    } catch {
      // like the reference: a closed or broken fd 4 is not an error
    }
  };
}

export const ackCommand: CommandModule<object, Args> = {
  command: 'ack',
  describe: 'Send packet receipt acknowledgements: -all | -node NODE[,...] | -node NODE -pkt PKT',
  builder: (y) =>
    commonFlags(y)
      .option('all', { type: 'boolean', describe: 'ACK all rx packets for all nodes' })
      .option('node', { type: 'string', describe: 'ACK rx packets for that node (comma list)' })
      .option('pkt', { type: 'string', describe: 'ACK only that packet' })
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_FREQ), describe: 'Outbound packet niceness' })
      .option('minsize', { type: 'number', default: 0, describe: 'Minimal required resulting packet size, in KiB' })
      .option('via', { type: 'string', nargs: 1, describe: 'Override Via path to destination node (only with -pkt; ignored otherwise)' })
      .epilogue('The created ACK packets are listed as NODE/PKT lines on file descriptor 4 (e.g. 4>acks).'),
  handler: (argv) =>
    run('ack', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const minSize = kibFlag('minsize', argv.minsize, false) * 1024;
      const ctx = await makeContext({ ...argv, needSelf: true });
      let nodes: Neighbour[] = [];
      if (argv.node) nodes = argv.node.split(',').map((n) => node(ctx, n));
      if (argv.all) {
        if (nodes.length > 0) throw new PigeonError('EUSAGE', 'give either -all or -node, not both');
        nodes = [...ctx.cfg.neighbours.values()];
      } else if (nodes.length === 0) {
        throw new PigeonError('EUSAGE', 'name the node whose packets to acknowledge: -node NODE[,...], or -all');
      }
      const out = ackWriter();
      if (argv.pkt) {
        if (nodes.length !== 1) throw new PigeonError('EUSAGE', '-pkt needs exactly one -node');
        const res = await txAck(ctx, { to: nodes[0], pktId: argv.pkt, nice, minSize, via: parseVia(ctx, argv.via) });
        out(ackLine(nodes[0], res.pktId));
        return 0;
      }
      return (await ackRx(ctx, { nodes, nice, minSize, onCreated: out })) ? 0 : 1;
    }),
};
