#!/usr/bin/env bash
# `omega serve-miner` answer latency: cold (prepared while the validator waits) and warm (from
# the cache) under 50 concurrent validators, release build, tiny model, local media.
#   benches/miner.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
cargo bench --locked --bench miner 2>/dev/null | tail -1 > target/omega-miner.json
python3 - target/omega-miner.json <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
print("| case | result |")
print("|---|---|")
print(f"| cold: first request for a query ({o['cold_videos']} videos searched, clipped, embedded) | {o['cold_s']:.2f} s |")
print(f"| warm: {o['concurrent_validators']} concurrent validators × {o['rounds']} rounds, p50 | {o['warm_p50_ms']:.1f} ms |")
print(f"| warm, p99 | {o['warm_p99_ms']:.1f} ms |")
print(f"| warm, answers per second | {o['warm_answers_per_s']:.0f} |")
PY
