#!/usr/bin/env bash
# The curator's self-join: `omega dedup --scope dataset` over N vectors (exact, IVF and ANN backends)
# vs FAISS IndexFlatIP doing the same greedy self-join with the same threshold, on the same
# cores; time, peak memory, rows kept.   benches/dedup_dataset.sh [N] [PYTHON_WITH_FAISS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; PY=${2:-python3}
scripts/setup.sh
source .cache/env
source benches/faiss_env.sh
cargo build --locked --release --features ann -q
W=target/bench-dedup-dataset; rm -rf "$W"; mkdir -p "$W"
"$PY" benches/dedup_dataset.py make "$W/vectors.parquet" "$N"
omega_run() {  # BACKEND -> "seconds peak_mb kept"
    local t0 out; t0=$(date +%s.%N)
    out=$(/usr/bin/time -f "%M" target/release/omega dedup --scope dataset --backend "$1" \
        -o "$W/$1.parquet" "$W/vectors.parquet" --json 2>"$W/$1.time")
    echo "$(echo "$(date +%s.%N) - $t0" | bc) $(( $(tail -1 "$W/$1.time") / 1024 ))" \
        "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["ok"])')"
}
read -r es em ek <<<"$(omega_run exact)"
read -r as am ak <<<"$(omega_run ann)"
read -r is im ik <<<"$(omega_run ivf)"
faiss=$("$PY" benches/dedup_dataset.py join "$W/vectors.parquet" 0.1 "$(nproc)")
python3 - "$N" "$es" "$em" "$ek" "$as" "$am" "$ak" "$faiss" "$(nproc)" "$is" "$im" "$ik" <<'PY'
import json, math, sys
n = int(sys.argv[1]); es, em, ek, as_, am, ak = map(float, sys.argv[2:8]); f = json.loads(sys.argv[8])
is_, im, ik = map(float, sys.argv[10:13])
print(f"N = {n} vectors, threshold 0.1 (cosine > 0.9 is a near-duplicate), {sys.argv[9]} cores\n")
print("| | seconds | peak RSS MB | rows kept | ratio to FAISS (time) | 30 M extrapolated |")
print("|---|---|---|---|---|---|")
scale = (30e6 / n) ** 2  # a greedy exact self-join is quadratic in N
days = lambda s: f"{s * scale / 86400:,.0f} days (N²)"
print(f"| omega dedup --scope dataset (exact) | {es:.1f} | {em:.0f} | {ek:.0f} | {f['seconds']/es:.2f} | {days(es)} |")
print(f"| omega dedup --scope dataset --backend ann | {as_:.1f} | {am:.0f} | {ak:.0f} | {f['seconds']/as_:.2f} | {as_ * 30e6 / n * math.log(30e6) / math.log(n) / 3600:,.0f} hours (N log N) |")
# Each query scans a fixed number of lists of about √N / 2 rows, and there are 2·√N centroids.
print(f"| omega dedup --scope dataset --backend ivf | {is_:.1f} | {im:.0f} | {ik:.0f} | {f['seconds']/is_:.2f} | {is_ * (30e6 / n) ** 1.5 / 3600:,.0f} hours (N^1.5) |")
print(f"| FAISS IndexFlatIP, the same greedy self-join | {f['seconds']:.1f} | {f['peak_rss_mb']:.0f} | {f['kept']} | 1.00 | {days(f['seconds'])} |")
PY
