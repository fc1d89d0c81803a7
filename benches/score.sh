#!/usr/bin/env bash
# Throughput of the validator's judgement (validate --check none, dedup against an index,
# score) on CPU with the real all-MiniLM-L6-v2 text model.   benches/score.sh [ANSWERS]
# The ImageBind stand-in (models/imagebind-tiny) keeps model time out of the measurement; set
# OMEGA_BENCH_MODEL=DIR to use an exported ImageBind-huge instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
export OMEGA_BENCH_N=${1:-500}
cargo bench --locked --bench score 2>/dev/null > target/omega-score.json
python3 - target/omega-score.json <<'PY2'
import json, sys
o = json.load(open(sys.argv[1]))
model = o["text_model"].split("/")[-1]
print(f"{o['answers']} answers × 8 videos, index of {o['index_vectors']} videos, {o['threads']} threads, text model {model}\n")
print("| stage | s | answers/s |")
print("|---|---|---|")
for s in ("validate", "dedup", "score"):
    print(f"| {s} | {o[s + '_s']:.1f} | {o[s + '_answers_per_s']:.0f} |")
print(f"| all three | {o['all_s']:.1f} | {o['all_answers_per_s']:.0f} |")
print(f"\nvideos fully scored: {o['videos_fully_scored']} of {o['videos']}; per answer, score embeds "
      f"{o['imagebind_texts_per_answer']:.1f} texts with ImageBind and {o['text_model_texts_per_answer']} with the text model")
PY2
