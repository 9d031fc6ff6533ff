/**
 * Online-session test helpers: the options of a one-off call to a node's
 * daemon on a loopback port (everything at the reference's defaults, a 1 s
 * online deadline so the call ends when both sides are done).
 */
import { findNode } from '../../src/config/types.js';
import type { Context } from '../../src/context.js';
import type { CallOptions } from '../../src/sp/call.js';

export function callOptions(ctx: Context, node: string, addr: string, extra: Partial<CallOptions> = {}): CallOptions {
  return {
    node: findNode(ctx.cfg, node),
    addr,
    nice: 255,
    onlineDeadline: 1,
    maxOnlineTime: 0,
    rxRate: 0,
    txRate: 0,
    noCK: false,
    ...extra,
  };
}
