/**
 * Routes of outgoing packets: the relays a packet goes through (a
 * neighbour's configured `via`, or the -via flag), first hop first.
 */
import { base32Encode } from '../codec/base32.js';
import type { Config, Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { ConfigError, PigeonError } from '../errors.js';

/** Hops from the destination outwards: [destination, last relay, …, first relay]. */
export function routeHops(cfg: Config, to: Neighbour, via = to.via): Neighbour[] {
  const hops = [to];
  for (let i = via.length - 1; i >= 0; i--) {
    const relay = cfg.neighbours.get(base32Encode(via[i]));
    if (!relay) throw new ConfigError(`via of ${to.name}: relay ${base32Encode(via[i])} is not a known neighbour`);
    hops.push(relay);
  }
  return hops;
}

/**
 * The -via flag as the reference reads it: "" keeps the neighbour's
 * configured route (undefined), "-" sends directly ([]), otherwise a comma
 * list of neighbour names or ids, first hop first.
 */
export function parseVia(ctx: Pick<Context, 'cfg'>, text: string | undefined): Uint8Array[] | undefined {
  if (text === undefined || text === '') return undefined;
  if (text === '-') return [];
  return text.split(',').map((name) => {
    const n = ctx.cfg.byName.get(name) ?? ctx.cfg.neighbours.get(name);
    if (!n) throw new PigeonError('EUSAGE', `-via ${text}: unknown node ${JSON.stringify(name)}: not in neigh of ${ctx.cfg.path}`);
    return n.id;
  });
}
