#!/usr/bin/env bash
# The Ray driver (pipelines/ray/omega_ray.py) on 1 and 2 Ray nodes of this machine vs one process
# per stage, on the demo's media: benches/ray.sh [OMEGA] [OUT]   (root: it makes a network
# namespace). OMEGA defaults to target/release/omega (built here); N = 4 parts per stage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
[ $# -ge 1 ] || cargo build --release --locked 2>/dev/null
OMEGA=$(realpath "${1:-target/release/omega}") DRIVER=$PWD/pipelines/ray/omega_ray.py B=${2:-/tmp/omega-ray-bench} N=4 MODEL=$PWD/models/imagebind-tiny Q="demo: real media from the package registries"
RAY=$(dirname "$OMEGA_RAY_PYTHON")/ray
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
rm -rf "$B"; mkdir -p "$B"
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# 1. One process per stage, one after the other (pipelines/demo.sh; dedup without --index and
#    score without --state, as the parts run).
S=$B/single; mkdir -p "$S"
t() { local s; s=$(date +%s.%N); "$OMEGA" -q "$@"; printf 'single %-8s %6.2f s\n' "$1" "$(since "$s")"; }
s0=$(date +%s.%N)
t search --source dir "$OMEGA_MEDIA_DIR" --query "$Q" -o "$S/candidates.parquet"
t clip -i "$S/candidates.parquet" --media-dir "$S/media" -o "$S/clips.parquet"
t embed -i "$S/clips.parquet" --model "$MODEL" -o "$S/embeddings.parquet"
t validate -i "$S/embeddings.parquet" --model "$MODEL" --check all --media-dir "$S/recheck" -o "$S/validated.parquet"
t dedup -i "$S/validated.parquet" -o "$S/deduped.parquet"
t score -i "$S/deduped.parquet" --model "$MODEL" -o "$S/scored.parquet"
t push-hf -i "$S/scored.parquet" --to "$S/dataset" --model "$MODEL"
printf 'single total %.2f s\n' "$(since "$s0")"

# 2. The driver on a cluster of $1 nodes with $2 CPUs each, in a network namespace of its own
#    (only lo), N parts per stage; then again over the finished folder (every part has its
#    marker: each task is Ray's launch plus an omega that exits at once).
ray_run() {
  local nodes=$1 cpus=$2 ns=omegabench-$$ tmp=/tmp/omegabench-$$ s
  ip netns add $ns; ip netns exec $ns ip link set lo up
  s=$(date +%s.%N)
  ip netns exec $ns "$RAY" start --head --port=6379 --include-dashboard=false --block --node-ip-address=127.0.0.1 \
    --num-cpus=$cpus --disable-usage-stats --object-store-memory=100000000 --temp-dir=$tmp/h >"$B/head.log" 2>&1 &
  if [ "$nodes" = 2 ]; then
    ip netns exec $ns "$RAY" start --address=127.0.0.1:6379 --dashboard-agent-listen-port=52366 --min-worker-port=20000 \
      --max-worker-port=29999 --block --node-ip-address=127.0.0.1 --num-cpus=$cpus --disable-usage-stats \
      --object-store-memory=100000000 --temp-dir=$tmp/w >"$B/worker.log" 2>&1 &
  fi
  until [ "$(cat "$B"/head.log "$B"/worker.log 2>/dev/null | grep -c 'Ray runtime started')" = "$nodes" ]; do sleep 0.2; done
  printf 'ray %s node(s): cluster up in %.1f s; ' "$nodes" "$(since "$s")"
  sleep 5  # idle: the prestarted workers are up
  printf 'idle RSS of its processes %s MiB\n' "$(ip netns pids $ns | xargs ps -o rss= -p | awk '{s += $1} END {printf "%d", s / 1024}')"
  for run in run rerun; do
    ip netns exec $ns "$OMEGA_RAY_PYTHON" "$DRIVER" --address=127.0.0.1:6379 --min-nodes=$nodes --omega "$OMEGA" \
      --work "$B/ray$nodes" --shards $N --media-dir "$OMEGA_MEDIA_DIR" --query "$Q" --model "$MODEL" \
      --to "$B/ray$nodes/dataset" --json >"$B/ray$nodes-$run.json" 2>"$B/ray$nodes-$run.log"
  done
  ip netns pids $ns | xargs -r kill -9; sleep 0.5; ip netns del $ns; rm -rf $tmp; rm -f "$B"/head.log "$B"/worker.log
}
ray_run 1 2
ray_run 2 1

# Per stage: wall (submit to barrier), launch (submitted -> started on a worker), omega (the
# process), work (omega's own seconds, from the part's marker), mean over the parts.
"$OMEGA_RAY_PYTHON" - "$B"/ray1-run.json "$B"/ray1-rerun.json "$B"/ray2-run.json "$B"/ray2-rerun.json <<'PY'
import json, sys, statistics as st
for path in sys.argv[1:]:
    s = json.load(open(path))
    print(f"== {path.split('/')[-1]}: total {s['wall_s']:.2f} s, push-hf {s['push_hf']['wall_s']:.2f} s, nodes {len(s['nodes'])}")
    print(f"{'stage':<9} {'rows':>4} {'ok':>3} {'wall':>6} {'launch':>6} {'omega':>6} {'work':>6} {'ovh':>6}  per node")
    for name, g in s["stages"].items():
        t = g["tasks"]
        m = lambda k: st.mean(x[k] for x in t)
        per = {}
        for x in t: per[x["node"][:4]] = per.get(x["node"][:4], 0) + 1
        print(f"{name:<9} {g['rows']:>4} {g['status'].get('ok',0):>3} {g['wall_s']:>6.2f} {m('launch_s'):>6.2f} {m('wall_s'):>6.2f} {m('work_s'):>6.2f} {m('wall_s')-m('work_s'):>6.2f}  {sorted(per.values())}")
PY
