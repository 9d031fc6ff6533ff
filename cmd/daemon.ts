/** `pigeon daemon` (nncp-daemon): answer calls from neighbours. */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { Logger } from '../src/log/log.js';
import { parseNice } from '../src/nice.js';
import { ucspiRemoteAddr, yggdrasilUnsupported } from '../src/sp/call.js';
import { listenPrivsep, serveStdioPrivsep, type PrivsepOptions } from '../src/privsep/parent.js';
import { lookupUser } from '../src/privsep/sandbox.js';
import { listenDaemon, serveStdio } from '../src/sp/daemon.js';
import { bindPort, mcdSendOnce, startMcdSend } from '../src/sp/mcd.js';
import { autoTossFlags, autoTossOptions, commonFlags, lastNum, lastStr, privsepChoice, privsepFlags, run, type AutoTossArgs, type CommonArgs, type PrivsepArgs } from './common.js';

interface Args extends CommonArgs, AutoTossArgs, PrivsepArgs {
  nice: string;
  bind: string;
  ucspi?: boolean;
  inetd?: boolean;
  yggdrasil?: string;
  maxconn: number;
  nock?: boolean;
  'mcd-once'?: boolean;
}

export const daemonCommand: CommandModule<object, Args> = {
  command: 'daemon',
  describe: 'Answer calls: run the sync protocol with each neighbour that connects',
  builder: (y) =>
    privsepFlags(
      autoTossFlags(
        commonFlags(y)
          .option('nice', { type: 'string', coerce: lastStr, default: 'MAX', describe: 'Minimal required niceness' })
          .option('bind', { type: 'string', coerce: lastStr, default: '[::]:5400', describe: 'Address to bind to' })
          .option('ucspi', { type: 'boolean', describe: 'Is it started as UCSPI-TCP server' })
          .option('inetd', { type: 'boolean', describe: 'Obsolete, use -ucspi' })
          .option('yggdrasil', { type: 'string', describe: 'Start Yggdrasil listener: not built into pigeon (use the system yggdrasil daemon and -bind; see README)' })
          .option('maxconn', { type: 'number', default: 128, coerce: lastNum, describe: 'Maximal number of simultaneous connections' })
          .option('nock', { type: 'boolean', describe: 'Do no checksum checking' })
          .option('mcd-once', { type: 'boolean', describe: 'Send MCDs once and quit' }),
      ),
    ),
  handler: (argv) =>
    run('daemon', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const ucspi = argv.ucspi || argv.inetd;
      if (argv.yggdrasil) throw yggdrasilUnsupported('-yggdrasil', true);
      const { privsep, user } = privsepChoice(argv);
      const priv: PrivsepOptions = { user: user === undefined ? undefined : lookupUser(user) };
      const ctx = await makeContext({ ...argv, needSelf: true });
      const opts = { nice, noCK: argv.nock ?? false, autoToss: autoTossOptions(argv) };
      if (ucspi) {
        // As the reference closes stderr: nothing may be written to what may be the caller's socket.
        ctx.log = new Logger({ path: ctx.cfg.log, quiet: true, debug: false, stderr: { write: () => true } });
        const addr = ucspiRemoteAddr() || 'PIPE';
        await (privsep ? serveStdioPrivsep(ctx, opts, addr, priv) : serveStdio(ctx, opts, addr));
        return 0;
      }
      if (argv['mcd-once']) {
        if (ctx.cfg.mcdSend.size === 0) return 0; // nothing to announce, as the reference with no mcd-send
        return (await mcdSendOnce(ctx, bindPort(argv.bind))) ? 0 : 1;
      }
      if (argv.bind === '') {
        throw new PigeonError('EUSAGE', '-bind "": nothing to listen on (pigeon has no Yggdrasil listener); give -bind HOST:PORT or -ucspi');
      }
      const lopts = { ...opts, bind: argv.bind, maxConn: argv.maxconn };
      const d = privsep ? await listenPrivsep(ctx, lopts, priv) : await listenDaemon(ctx, lopts);
      const stopMcd = ctx.cfg.mcdSend.size > 0 ? startMcdSend(ctx, bindPort(argv.bind)) : () => {};
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      stopMcd();
      await d.close();
      return 0;
    }),
};
