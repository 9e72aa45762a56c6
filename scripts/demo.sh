#!/usr/bin/env bash
# The README's first command: sample Currents events through the pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/demo
./bin/currents-gen -n 1000 -envelope 100 -users 200 -o out/demo/braze-bodies.jsonl
(cd out/demo && ../../bin/connect-amplitude run --log.level warn ../../config/currents-to-jsonl.yaml \
  < braze-bodies.jsonl > amplitude-events.jsonl)
echo "Amplitude events written: $(wc -l < out/demo/amplitude-events.jsonl) (out/demo/amplitude-events.jsonl)"
echo "First event:"
head -n 1 out/demo/amplitude-events.jsonl
