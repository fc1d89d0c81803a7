#!/usr/bin/env bash
# The chain layer's CPU work: metagraph decoding (256 and 4096 uids) and the weight processing
# of `omega set-weights` vs the Python SDK (bittensor 9.10.1) on 4096 uids.   benches/chain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
cargo bench --locked --bench chain 2>/dev/null | tail -1 > target/omega-chain.json
python3 - target/omega-chain.json <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
print("| work | omega | Python SDK 9.10.1 | ratio |")
print("|---|---|---|---|")
for n in (256, 4096):
    print(f"| decode a {n}-uid metagraph answer ({o[f'metagraph_answer_{n}_bytes'] // 1024} KiB) into rows | {o[f'metagraph_decode_{n}_ms']:.2f} ms | – | – |")
print(f"| process + emit weights, {o['weights_uids']} uids | {o['weights_omega_ms']:.3f} ms | {o['weights_sdk_ms']:.3f} ms | {o['weights_speedup']:.1f}× |")
PY
