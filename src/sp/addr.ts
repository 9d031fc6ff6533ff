/**
 * Whom and where `pigeon call` calls: NODE[:ADDR] (a neighbour, optionally
 * one of its configured addrs by name), a FORCEADDR given instead, or
 * -ucspi (the UCSPI-TCP client's descriptors). What it returns is what
 * callNode (call.ts) takes as node and addr.
 */
import { findNode, type Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { PigeonError } from '../errors.js';
import { UCSPI_TCP_CLIENT } from './call.js';

export interface CallTarget {
  node: Neighbour;
  /** The address to call; absent: every address of the node in turn. */
  addr?: string;
}

/**
 * Resolve NODE[:ADDR] with an optional FORCEADDR and -ucspi, in the
 * reference's precedence: -ucspi, then FORCEADDR, then :ADDR. The node
 * must have a noisepub; an unknown ADDR is refused naming the node's addrs.
 */
export function resolveCallTarget(ctx: Context, spec: string, opts: { forceAddr?: string; ucspi?: boolean } = {}): CallTarget {
  const colon = spec.indexOf(':');
  const node = findNode(ctx.cfg, colon < 0 ? spec : spec.slice(0, colon));
  if (!node.noisePub) throw new PigeonError('ECONFIG', `node ${node.name} has no noisepub in ${ctx.cfg.path}: it cannot be called online`);
  if (opts.ucspi) return { node, addr: UCSPI_TCP_CLIENT };
  if (opts.forceAddr !== undefined) return { node, addr: opts.forceAddr };
  if (colon < 0) return { node };
  const key = spec.slice(colon + 1);
  const addr = node.addrs.get(key);
  if (addr === undefined) throw new PigeonError('EUSAGE', `unknown ADDR ${key} of node ${node.name}: its addrs are ${[...node.addrs.keys()].join(', ') || 'none'}`);
  return { node, addr };
}
