/** `pigeon web`: serve the spool's status page read-only over HTTP (loopback by default). */
import type { CommandModule } from 'yargs';
import { DEFAULT_WEB_BIND, serveStatus } from '../src/admin/web.js';
import { makeContext } from '../src/context.js';
import { commonFlags, type CommonArgs, lastStr, run } from './common.js';

interface Args extends CommonArgs {
  bind: string;
}

export const webCommand: CommandModule<object, Args> = {
  command: 'web',
  describe: 'Serve the spool status page over HTTP, read-only (GET / and /status.json)',
  builder: (y) =>
    commonFlags(y).option('bind', { type: 'string', coerce: lastStr, default: DEFAULT_WEB_BIND, describe: 'Address to listen on (HOST:PORT; loopback unless given)' }),
  handler: (argv) =>
    run('web', async () => {
      const ctx = await makeContext(argv);
      const srv = await serveStatus(ctx, argv.bind);
      if (!ctx.quiet) {
        process.stderr.write(`pigeon web: serving the status of ${ctx.cfg.spool} on http://${srv.address}/\n`);
        if (!srv.loopback) process.stderr.write(`pigeon web: warning: ${srv.address} is not a loopback address: anyone who reaches it sees node names, queues and errors\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await srv.close();
      return 0;
    }),
};
