#!/usr/bin/env bash
# The Milvus index backend vs the embedded exact index, on the same clustered vectors and
# queries (benches/milvus.rs).   benches/milvus.sh [N] [INDEX-QUERY]
# N defaults to 100000; INDEX-QUERY sets the collection's index, e.g. "index=IVF_SQ8&nlist=1024&nprobe=32"
# (default FLAT). The server is Milvus Lite (PyPI milvus-lite 3.2.2) on loopback, started here.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; QUERY=${2:-}
scripts/setup.sh
source .cache/env
DATA=$(mktemp -d); PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$(dirname "$OMEGA_MILVUS_PYTHON")/milvus-lite" server --data-dir "$DATA" --host 127.0.0.1 --port "$PORT" 2>/dev/null &
SERVER=$!
trap 'kill -9 $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; do sleep 0.2; done
export OMEGA_BENCH_N=$N OMEGA_BENCH_MILVUS="milvus://127.0.0.1:$PORT/bench${QUERY:+?$QUERY}"
cargo bench --locked --features milvus --bench milvus 2>/dev/null > target/omega-milvus.json
python3 - target/omega-milvus.json <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
print(f"N = {o['n']} clustered 1024-d vectors; {o['location']}\n")
print("| | inserts/s | q/s near-dup | recall@1 near-dup | same decision at 0.95 | q/s fresh | recall@1 fresh | same decision at 0.95 |")
print("|---|---|---|---|---|---|---|---|")
print(f"| omega exact (embedded) | {o['exact_insert_per_s']:.0f} | {o['exact_near_qps']:.0f} | 1 | 1 | {o['exact_fresh_qps']:.0f} | 1 | 1 |")
print(f"| Milvus (Lite) | {o['milvus_insert_per_s']:.0f} | {o['milvus_near_qps']:.0f} | {o['milvus_near_recall']:.3f} | {o['milvus_near_same_decision']:.3f} | {o['milvus_fresh_qps']:.0f} | {o['milvus_fresh_recall']:.3f} | {o['milvus_fresh_same_decision']:.3f} |")
print(f"\nratios Milvus/exact: inserts {o['milvus_insert_per_s']/o['exact_insert_per_s']:.2f}, "
      f"q/s near {o['milvus_near_qps']/o['exact_near_qps']:.3f}, fresh {o['milvus_fresh_qps']/o['exact_fresh_qps']:.3f}; "
      f"near-duplicate queries above 0.95: {o['near_above_threshold']} of 1000")
PY
