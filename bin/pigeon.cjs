#!/bin/sh
":" //; [ -z "${NODE_EXTRA_CA_CERTS+x}" ] || { PIGEON_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export PIGEON_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; }; exec node "$0" "$@"
/*
 * The `pigeon` executable (package.json "bin"): a file that /bin/sh and
 * Node both read. To the shell, line 2 is a no-op (`:`) and then the
 * launcher; to Node, it is a string and a comment.
 *
 * Node 20 builds its whole root certificate store at start-up when
 * NODE_EXTRA_CA_CERTS is set (nodejs/node#40524): 30-50 ms on this
 * project's machines, as long as the rest of Pigeon's start. Pigeon makes
 * no TLS connection, so the shell hands the variable to Node under another
 * name, PIGEON_NODE_EXTRA_CA_CERTS, and it is put back below, before any
 * of Pigeon runs: the programs Pigeon starts with its own environment
 * (fspl jobs, the pipe commands of `call`) see it as it was set. Exec
 * handlers get their fixed environment (NNCP_SELF, NNCP_SENDER, NNCP_NICE)
 * either way. Run as `node bin/pigeon.cjs`, the shell's line is skipped and
 * Node pays for the store.
 */
const saved = process.env.PIGEON_NODE_EXTRA_CA_CERTS;
if (saved !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = saved;
  delete process.env.PIGEON_NODE_EXTRA_CA_CERTS;
}
require('../dist/cmd/pigeon.cjs');
