#!/usr/bin/env bash
# The README's first command: sample Currents events through the whole
# pipeline (config/currents-to-amplitude.yaml) into the local Amplitude
# emulator, then what arrived. Needs `make build` first (make demo does it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/demo
rm -rf "$out" && mkdir -p "$out"

# 1,000 events of every sample type, as Braze's connector would POST them.
./bin/currents-gen -n 1000 -envelope 100 -users 200 -o "$out/braze-bodies.jsonl"

./bin/amplitude-emulator -addr 127.0.0.1:0 -record "$out/amplitude-received.jsonl" 2> "$out/emulator.log" &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^amplitude-emulator listening on \(http[^ ]*\).*/\1/p' "$out/emulator.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$out/emulator.log"; echo "the emulator did not start" >&2; exit 1; }

# The HTTP server (/ready, /metrics) on a free port too, so that a demo runs
# beside anything that holds the default ports.
CURRENTS_FILE="$out/braze-bodies.jsonl" DEAD_LETTER_FILE="$out/dead-letter.jsonl" \
  AMPLITUDE_ENDPOINT="$url" HTTP_ADDRESS="${HTTP_ADDRESS:-127.0.0.1:0}" \
  ./bin/connect-amplitude run --log.level warn config/currents-to-amplitude.yaml

kill -TERM "$emulator" && wait "$emulator" || true
trap - EXIT

sent=$(grep -o '"id":' "$out/braze-bodies.jsonl" | wc -l)
arrived=$(wc -l < "$out/amplitude-received.jsonl")
dead=0
[ -f "$out/dead-letter.jsonl" ] && dead=$(wc -l < "$out/dead-letter.jsonl")
echo "Currents events sent by Braze:     $sent ($out/braze-bodies.jsonl)"
echo "Amplitude events in the emulator:  $arrived ($out/amplitude-received.jsonl)"
echo "Events in the dead letter:         $dead ($out/dead-letter.jsonl)"
echo "(the rest were left out by the mapping's defaults, e.g. device-only users)"
echo
echo "First event that arrived:"
head -n 1 "$out/amplitude-received.jsonl"
echo
echo "The emulator's statistics:"
sed -n '/final stats:/,$p' "$out/emulator.log" | tail -n +2
