#!/usr/bin/env bash
# Regenerates test-fixtures/packets/ with the reference NNCP (nncp-* on PATH).
# Every packet here is made by the reference; spec/packet-fixtures.test.ts opens
# them with pigeon using the committed keys. Payload bytes follow a recipe
# (byte i = i mod 251) recorded in manifest.json, so no payload is stored twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/packets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
export NNCPNOSYNC=1

for n in alice bob carol; do nncp-cfgnew -nocomments > "$work/$n.new"; done
# nncp-cfgnew -area panics in 8.8.2, so the area keypair is a throwaway
# node's exchange keypair; an area id is BLAKE2b-256 of the area public key.
nncp-cfgnew -nocomments > "$work/area.new"

python3 - "$work" "$out" <<'PY'
import re, sys, os
work, out = sys.argv[1], sys.argv[2]
def grab(text, key):
    return re.search(r'\n\s*' + key + r': (\S+)', text).group(1)
nodes = {}
for n in ('alice', 'bob', 'carol'):
    t = open(f'{work}/{n}.new').read()
    selfpart = t[t.index('self: {'):]
    nodes[n] = {k: grab(selfpart, k) for k in ('id', 'exchpub', 'exchprv', 'signpub', 'signprv', 'noiseprv', 'noisepub')}
area_text = open(f'{work}/area.new').read()
import base64, hashlib
area_self = area_text[area_text.index('self: {'):]
area = {'pub': grab(area_self, 'exchpub'), 'prv': grab(area_self, 'exchprv')}
b32 = lambda b: base64.b32encode(b).decode().rstrip('=')
area['id'] = b32(hashlib.blake2b(base64.b32decode(area['pub'] + '=' * (-len(area['pub']) % 8)), digest_size=32).digest())
for me in nodes:
    k = nodes[me]
    lines = ['{', f'  spool: {work}/{me}/spool', f'  log: {work}/{me}/log', '  self: {']
    for f in ('id', 'exchpub', 'exchprv', 'signpub', 'signprv', 'noiseprv', 'noisepub'):
        lines.append(f'    {f}: {k[f]}')
    lines += ['  }', '  neigh: {', '    self: {']
    for f in ('id', 'exchpub', 'signpub', 'noisepub'):
        lines.append(f'      {f}: {k[f]}')
    lines.append('    }')
    for other in nodes:
        if other == me:
            continue
        o = nodes[other]
        lines.append(f'    {other}: {{')
        for f in ('id', 'exchpub', 'signpub', 'noisepub'):
            lines.append(f'      {f}: {o[f]}')
        lines.append(f'      incoming: {work}/{me}/in')
        lines.append('      exec: {cat: ["/bin/cat"]}')
        lines.append('      freq: {path: "/tmp"}')
        if me == 'alice' and other == 'bob':
            pass
        lines.append('    }')
    lines.append('  }')
    subs = [x for x in ('alice', 'bob') if x != me]
    lines += ['  areas: {', '    pub: {', f'      id: {area["id"]}', f'      pub: {area["pub"]}', f'      prv: {area["prv"]}',
              f'      subs: [{", ".join(chr(34)+x+chr(34) for x in subs)}]', f'      incoming: {work}/{me}/in', '    }', '  }', '}']
    open(f'{out}/{me}.hjson', 'w').write('\n'.join(lines) + '\n')
    os.makedirs(f'{work}/{me}/spool', exist_ok=True)
    os.makedirs(f'{work}/{me}/in', exist_ok=True)
PY

payload() { python3 -c "import sys; n=int(sys.argv[1]); sys.stdout.buffer.write(bytes(i % 251 for i in range(n)))" "$1"; }

manifest="$out/manifest.json"
echo '[' > "$manifest"
first=1
# take_tx NAME FROMNODE TONODE NOTE: move the one packet FROMNODE queued for
# TONODE into the fixtures and record what the reference itself reads in it:
# nncp-pkt's description of the encrypted and of the decrypted plain packet,
# and the size and SHA-256 of the payload after the plain header.
take_tx() {
  local name=$1 from=$2 to=$3 note=$4
  local toid rcfg
  toid=$(grep -A1 "^    $to: {" "$out/$from.hjson" | sed -n 's/.*id: //p')
  rcfg="$out/$to.hjson"
  [ "$to" = self ] && rcfg="$out/$from.hjson"
  local f
  f=$(find "$work/$from/spool/$toid/tx" -maxdepth 1 -type f | head -n1)
  mv "$f" "$out/$name.pkt"
  rm -rf "$work/$from/spool/$toid/tx/hdr"
  nncp-pkt -cfg "$rcfg" < "$out/$name.pkt" > "$work/enc.txt"
  nncp-pkt -cfg "$rcfg" -dump < "$out/$name.pkt" > "$work/plain"
  nncp-pkt -cfg "$rcfg" < "$work/plain" > "$work/plain.txt"
  nncp-pkt -cfg "$rcfg" -dump < "$work/plain" > "$work/payload"
  [ $first = 1 ] || echo ',' >> "$manifest"
  first=0
  python3 - "$name" "$(basename "$f")" "$from" "$to" "$note" "$work" >> "$manifest" <<'PY'
import hashlib, json, os, sys
name, pid, frm, to, note, work = sys.argv[1:]
payload = open(f'{work}/payload', 'rb').read()
print('  ' + json.dumps({
    'file': name + '.pkt', 'id': pid, 'sender': frm, 'recipient': to, 'note': note,
    'nncpPktEncrypted': open(f'{work}/enc.txt').read(),
    'nncpPktPlain': open(f'{work}/plain.txt').read(),
    'payloadSize': len(payload), 'payloadSha256': hashlib.sha256(payload).hexdigest(),
}), end='')
PY
}

cfg() { echo "$out/$1.hjson"; }
# File packets at the block edges. The encrypted plaintext is 276 header
# bytes + data; a 128 KiB block holds SIZE (16 bytes) + data at the tail.
for size in 0 1 130780 130781 130795 130796 131071 131072 131073 405503 405504 532480; do
  payload "$size" > "$work/data"
  nncp-file -quiet -cfg "$(cfg alice)" -nice B "$work/data" "bob:f$size.bin"
  take_tx "file-$size" alice bob "file of $size bytes"
done
# Padding: IPAD only, then IPAD + OPAD.
payload 1000 > "$work/data"
nncp-file -quiet -cfg "$(cfg alice)" -minsize 2 "$work/data" bob:pad-small.bin
take_tx file-pad-ipad alice bob "minsize 2 KiB: inner zero padding only"
nncp-file -quiet -cfg "$(cfg alice)" -minsize 600 "$work/data" bob:pad-big.bin
take_tx file-pad-opad alice bob "minsize 600 KiB: zero padding and XOF padding"
payload 200000 > "$work/data"
nncp-file -quiet -cfg "$(cfg alice)" -minsize 300 -nice F+3 "$work/data" bob:pad-mid.bin
take_tx file-pad-multi alice bob "two data blocks then padding"
# Exec, compressed and not.
payload 70000 > "$work/data"
nncp-exec -quiet -cfg "$(cfg alice)" -replynice N bob cat arg1 "arg two" < "$work/data"
take_tx exec alice bob "zstd-compressed body of the recipe bytes"
nncp-exec -quiet -cfg "$(cfg alice)" -nocompress -nice P+1 bob cat x < "$work/data"
take_tx exec-fat alice bob "uncompressed body"
# File request.
nncp-freq -quiet -cfg "$(cfg alice)" bob:some/file.txt local.txt
take_tx freq alice bob "payload is the destination path local.txt"
# Transit through carol: the packet for carol wraps one for bob.
payload 5000 > "$work/data"
nncp-file -quiet -cfg "$(cfg alice)" -via carol "$work/data" bob:via.bin
take_tx trns alice carol "trns for bob wrapping a file packet"
# Area message to subscriber bob.
nncp-file -quiet -cfg "$(cfg alice)" "$work/data" area:pub:area.bin
take_tx area alice self "to self: toss fans area messages out to subscribers; wraps a packet encrypted to the area"
# ACK: bob acknowledges a packet from alice that sits in his rx.
payload 10 > "$work/data"
nncp-file -quiet -cfg "$(cfg alice)" "$work/data" bob:acked.bin
aliceid=$(sed -n '/^  self: {/,/}/s/.* id: //p' "$out/alice.hjson")
bobid=$(sed -n '/^  self: {/,/}/s/.* id: //p' "$out/bob.hjson")
mkdir -p "$work/bob/spool/$aliceid/rx"
f=$(find "$work/alice/spool/$bobid/tx" -maxdepth 1 -type f | head -n1)
cp "$f" "$work/bob/spool/$aliceid/rx/"
acked=$(basename "$f")
rm -rf "$work/alice/spool/$bobid/tx"
nncp-ack -quiet -cfg "$(cfg bob)" -node alice 4>/dev/null
take_tx ack bob alice "acknowledges the packet named in path"
echo '' >> "$manifest"
echo ']' >> "$manifest"
# The spool and log paths in the configs pointed into the scratch dir; neutralise them.
sed -i "s#$work#/nonexistent#g" "$out"/*.hjson
echo "made $(ls "$out"/*.pkt | wc -l) packets in $out"
