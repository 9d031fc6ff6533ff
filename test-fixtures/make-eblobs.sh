#!/usr/bin/env bash
# Regenerates test-fixtures/eblob/ with the reference nncp-cfgenc (on PATH).
# nncp-cfgenc reads the passphrase from a terminal only, so each run gets a
# pseudo-terminal from script(1) (util-linux), the passphrase typed ahead
# twice. manifest.json records each eblob's passphrase, parameters and
# plaintext; spec/cfgenc.test.ts decrypts them with pigeon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/eblob"
mkdir -p "$out"
cd "$out"
rm -f ./*.eblob
printf '{\n  # a configuration kept in an eblob\n  spool: /tmp/pigeon-eblob-fixture/spool\n  log: /tmp/pigeon-eblob-fixture/log\n}\n' > plain.hjson

# name|passphrase|flags
cases=(
  "basic|pass phrase|-s 1024 -t 2 -p 2"
  "odd|пароль ü 🐦|-s 7 -t 3 -p 3"
  "nojobs|pw|-s 1 -t 1 -p 0"
  "norounds|pw|-s 1 -t 0 -p 1"
)
manifest="["
for c in "${cases[@]}"; do
  IFS='|' read -r name pass flags <<<"$c"
  # script(1) ends when nncp-cfgenc does; the sleep keeps the terminal open until then.
  (printf '%s\n%s\n' "$pass" "$pass"; sleep 5) | script -qec "nncp-cfgenc $flags plain.hjson > $name.eblob" /dev/null >/dev/null
  nncp-cfgenc -dump "$name.eblob" >"$name.dump"
  read -r s t p <<<"$(echo "$flags" | sed -E 's/-s ([0-9]+) -t ([0-9]+) -p ([0-9]+)/\1 \2 \3/')"
  manifest+=$(printf '\n  {"file": "%s.eblob", "passphrase": "%s", "s": %s, "t": %s, "p": %s, "plain": "plain.hjson", "dump": "%s.dump"},' "$name" "$pass" "$s" "$t" "$p" "$name")
done
printf '%s\n]\n' "${manifest%,}" > manifest.json
