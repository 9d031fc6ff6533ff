/**
 * Yggdrasil addresses: pigeon has no built-in Yggdrasil node. daemon
 * -yggdrasil and a call to a yggdrasilc:// (or yggdrasil:) address fail
 * with one line saying so and how to reach the node over the system
 * yggdrasil daemon instead (its TCP address).
 */
import test from 'ava';
import { lab, saveNode } from './helpers/nncp.js';
import { asText, runPigeon } from './helpers/util.js';

test('daemon -yggdrasil: one line, not built in, use the system daemon and -bind', async (t) => {
  const r = asText(await runPigeon(['daemon', '-yggdrasil', 'yggdrasils://myprv:6789?bind=x']));
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /^pigeon daemon: -yggdrasil: Yggdrasil is not built into pigeon; run the system yggdrasil daemon on this host and let pigeon daemon listen on TCP there \(the default -bind \[::\]:5400 covers its 200::\/7 address\)/);
});

test('call to yggdrasilc:// (given, or from addrs): one line, not built in, call the Yggdrasil IPv6 address over TCP', async (t) => {
  const { nodes } = await lab(t, ['alice', 'bob']);
  const alice = nodes.alice;
  alice.raw.neigh.bob.addrs = { ygg: 'yggdrasilc://52be3c14?prv=myprv', old: 'yggdrasil:52be3c14' };
  await saveNode(alice);
  for (const args of [['bob', 'yggdrasilc://52be3c14?prv=myprv'], ['bob:ygg'], ['bob:old']]) {
    const r = asText(await runPigeon(['call', '-cfg', alice.cfgPath, ...args]));
    t.is(r.code, 1, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0], /ERROR Calling bob \(yggdrasil.*\): address yggdrasil\S*: Yggdrasil is not built into pigeon; run the system yggdrasil daemon on this host and call the node's Yggdrasil IPv6 address over TCP instead, like "\[200:1234:5678::1\]:5400"/);
  }
});
