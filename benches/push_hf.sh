#!/usr/bin/env bash
# push-hf benchmark: building Hub shards from an N-row table (three 1024-d embeddings per row)
# with `omega push-hf --to DIR` (spool + shards, everything it does before an upload) vs pyarrow
# writing the same rows into the same shard files.   benches/push_hf.sh [N]   (N defaults to 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
scripts/setup.sh
source .cache/env
cargo build --locked --release -q
W=target/bench-push; rm -rf "$W"; mkdir -p "$W/pyarrow"
python3 benches/push_pyarrow.py make "$W/scored.parquet" "$N"
MB=$(( $(stat -c %s "$W/scored.parquet") / 1000000 ))
sync
start=$(date +%s.%N)
target/release/omega push-hf -q -i "$W/scored.parquet" --to "$W/omega" --layout shards
omega_s=$(echo "$(date +%s.%N) - $start" | bc)
py=$(python3 benches/push_pyarrow.py write "$W/scored.parquet" "$W/pyarrow")
py_s=$(echo "$py" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
python3 - "$N" "$MB" "$omega_s" "$py_s" "$(nproc)" <<'PY'
import sys
n, mb, o, p, cores = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"{n} rows, {mb} MB of input Parquet, {cores} cores\n")
print("| | seconds | rows/s | MB/s (input) |\n|---|---|---|---|")
print(f"| omega push-hf --to (spool + shards + card) | {o:.1f} | {n/o:,.0f} | {mb/o:.0f} |")
print(f"| pyarrow read + write_table (shards only) | {p:.1f} | {n/p:,.0f} | {mb/p:.0f} |")
print(f"\nratio omega/pyarrow (rows/s): {p/o:.2f}")
PY
