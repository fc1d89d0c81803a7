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
# Three rounds, the sides alternating, so that drift on a shared machine hits both; medians.
omega_run() {  # LAYOUT -> seconds
    rm -rf "$W/omega"
    local t0; t0=$(date +%s.%N)
    target/release/omega push-hf -q -i "$W/scored.parquet" --to "$W/omega" --layout "$1"
    echo "$(date +%s.%N) - $t0" | bc
}
shards=() omega_layout=() py=()
for round in 1 2 3; do
    shards+=("$(omega_run shards)")
    omega_layout+=("$(omega_run omega)")
    rm -rf "$W/pyarrow"; mkdir -p "$W/pyarrow"
    py+=("$(python3 benches/push_pyarrow.py write "$W/scored.parquet" "$W/pyarrow" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
python3 - "$N" "$MB" "$(nproc)" "${shards[*]}" "${omega_layout[*]}" "${py[*]}" <<'PY'
import statistics, sys
n, mb, cores = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
med = lambda s: statistics.median(float(x) for x in s.split())
s, o, p = med(sys.argv[4]), med(sys.argv[5]), med(sys.argv[6])
print(f"{n} rows, {mb} MB of input Parquet, {cores} cores; medians of 3 alternating rounds\n")
print("| | seconds | rows/s | MB/s (input) | ratio to pyarrow |\n|---|---|---|---|---|")
for name, t in [("omega push-hf --to --layout shards (spool + shards + card)", s),
                ("omega push-hf --to --layout omega (spool + shards + card)", o),
                ("pyarrow read + write_table (shards only)", p)]:
    print(f"| {name} | {t:.2f} | {n/t:,.0f} | {mb/t:.0f} | {p/t:.2f} |")
PY
