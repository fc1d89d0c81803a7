#!/usr/bin/env bash
# `omega focus-score` with a real local LLM (llama.cpp's server from PyPI xllamacpp,
# SmolLM2-135M-Instruct, 1 thread) on 8 videos with descriptions: seconds and LLM requests per
# video, first with the LLM, then again from the cache; release build.
#   benches/focus_score.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
cargo build --locked --release --features ann 2>/dev/null
W=$(mktemp -d /tmp/omega-bench-focus.XXXXXX)
trap 'kill $LLM 2>/dev/null || true; rm -rf "$W"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OMP_WAIT_POLICY=PASSIVE "$OMEGA_LLM_PYTHON" tests/support/llm_server.py "$OMEGA_LLM_GGUF" "$PORT" bench > "$W/llm.out" 2>/dev/null &
LLM=$!
until grep -q ready "$W/llm.out" 2>/dev/null; do sleep 0.2; done
python3 - "$W/focus.parquet" <<'PY'
import sys, pyarrow as pa, pyarrow.parquet as pq
tasks = ["Write a merge sort in Python", "Reconcile a bank statement in a spreadsheet",
         "Fix a failing CI job", "Design a landing page in Figma", "Translate a README to Spanish",
         "Write SQL for monthly revenue", "Clean up a photo in GIMP", "Plan a sprint in Jira"]
n = len(tasks)
pq.write_table(pa.table({
    "video_id": [f"b{i}" for i in range(n)], "task_title": tasks,
    "task_description": [f"Do this: {t}, then save the result." for t in tasks],
    "media": pa.array([None] * n, pa.string()), "duration_seconds": [300.0] * n,
    "detailed_description": [f"The person works on: {t}. They open the tools, do the steps and save." for t in tasks],
    "boost_multiplier": pa.array([None] * n, pa.float64()), "owner_coldkey": pa.array([None] * n, pa.string()),
}), sys.argv[1], compression="zstd")
PY
run() {
  OMEGA_LLM_API_KEY=bench target/release/omega focus-score -i "$W/focus.parquet" -o "$W/out.parquet" \
    --index "$W/index" --formula skip-null --llm-url "http://127.0.0.1:$PORT/v1" --llm-model smollm2 \
    --llm-cache "$W/cache" --llm-concurrency 2 --text-model "$OMEGA_TEXT_MODEL" --json --quiet
}
run > "$W/first.json"; rm -f "$W/out.parquet"; run > "$W/cached.json"
python3 - "$W/first.json" "$W/cached.json" <<'PY'
import json, sys
print("| run | videos | LLM requests per video | seconds per video |")
print("|---|---|---|---|")
for name, path in zip(["with the LLM", "again, from the cache"], sys.argv[1:]):
    s = json.load(open(path))
    print(f"| {name} | {s['rows']} | {s['llm_requests'] / s['rows']:.1f} | {s['seconds'] / s['rows']:.3f} |")
PY
