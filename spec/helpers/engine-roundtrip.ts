/**
 * Child process for encrypted-fallback.test: with the engine this process
 * picks (native when built), encrypt the job's data into OUT and open the
 * packet IN made by the other engine. Usage: engine-roundtrip.js JOB.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { aead } from '../../src/crypto/aead.js';
import { decryptPacket, encryptPacket, openPlain } from '../../src/packet/encrypted.js';
import { PktType } from '../../src/packet/header.js';

interface Job {
  keys: Record<'alice' | 'bob', Record<string, string>>;
  eph: string;
  data: string;
  minSize: number;
  in: string;
  out: string;
}
const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Job;
const k = (who: 'alice' | 'bob') => Object.fromEntries(Object.entries(job.keys[who]).map(([n, v]) => [n, Buffer.from(v, 'hex')]));
const alice = k('alice');
const bob = k('bob');
const data = readFileSync(job.data);
const plain = { type: PktType.File, nice: 1, path: new TextEncoder().encode('x') };

async function* one(b: Uint8Array) {
  yield b;
}
const enc = encryptPacket({ sender: { id: alice.id, signPrv: alice.signPrv }, recipient: { id: bob.id, exchPub: bob.exchPub }, nice: 3, plain, payload: one(data), minSize: job.minSize, ephemeralPrv: Buffer.from(job.eph, 'hex') });
const parts: Uint8Array[] = [];
for await (const c of enc.stream) parts.push(Uint8Array.from(c));
writeFileSync(job.out, Buffer.concat(parts));

const dec = await decryptPacket({ self: { id: bob.id, exchPrv: bob.exchPrv }, lookup: () => ({ id: alice.id, signPub: alice.signPub }), input: one(readFileSync(job.in)) });
const { body } = await openPlain(dec.plaintext);
const got: Uint8Array[] = [];
for await (const c of body) got.push(c);
if (!Buffer.concat(got).equals(data)) {
  process.stderr.write('payload differs\n');
  process.exit(1);
}
process.stdout.write(`ok ${aead().engine}\n`);
