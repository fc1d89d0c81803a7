#!/usr/bin/env bash
# `omega run-validator` on loopback: a round's wall time by phase (two answering miners, every
# answer spot-checked) and resident memory after 100 and 1000 rounds; release build, tiny model.
#   benches/validator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
cargo bench --locked --bench validator 2>/dev/null | tail -1 > target/omega-validator.json
python3 - target/omega-validator.json <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
p = o["seconds_per_round"]
print(f"| phase (mean of {o['rounds']} rounds) | seconds |")
print("|---|---|")
for k in ["query", "validate", "dedup", "score", "commit", "weights"]:
    print(f"| {k} | {p[k]:.3f} |")
print(f"| whole round | {sum(p.values()):.3f} |")
print()
print(f"| {o['memory_rounds']} rounds ({o['memory_seconds']:.0f} s) | resident memory |")
print("|---|---|")
print(f"| after round 100 | {o['rss_kib_after_100'] / 1024:.1f} MiB |")
print(f"| after round {o['memory_rounds']} | {o['rss_kib_after_1000'] / 1024:.1f} MiB |")
PY
