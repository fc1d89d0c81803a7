#!/usr/bin/env bash
# Read-only check of omega's chain layer against a live subtensor node, by hand; not part of the
# test suite (no node is reachable where the tests run) and it never sends a transaction.
#   scripts/live-check.sh wss://entrypoint-finney.opentensor.ai:443 [NETUID]
# It reads the metagraph, then asks for a dry run of uniform weights as the subnet's first
# validator: the rules read (hyperparameters), the processed weights, the call as the node's
# runtime would decode it, and whether the chain would accept it now.
set -euo pipefail
endpoint=${1:?usage: scripts/live-check.sh wss://NODE:443 [NETUID]}
netuid=${2:-24}
cd "$(dirname "$0")/.."
[ -f .cache/env ] && source .cache/env
omega=${OMEGA:-target/release/omega}
[ -x "$omega" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== metagraph of subnet $netuid at $endpoint"
"$omega" metagraph --netuid "$netuid" --subtensor.chain_endpoint "$endpoint" -o "$work/metagraph.parquet"
"$omega" show "$work/metagraph.parquet" -n 10 \
  -c uid,hotkey,total_stake,validator_permit,axon_ip,axon_port,last_update,incentive

validator=$("$omega" show "$work/metagraph.parquet" -c hotkey,validator_permit -n 100000 --width 60 |
  awk 'NR > 1 && $2 == "true" { print $1; exit }')
[ -n "$validator" ] || { echo "no validator with a permit on subnet $netuid"; exit 1; }
n=$("$omega" show "$work/metagraph.parquet" -c uid -n 100000 | tail -n +2 | grep -c .)
{ echo "uid,weight"; for ((uid = 0; uid < n; uid++)); do echo "$uid,1"; done; } > "$work/weights.csv"

echo "== dry run: uniform weights over $n uids as validator $validator"
"$omega" set-weights -i "$work/weights.csv" --netuid "$netuid" --subtensor.chain_endpoint "$endpoint" \
  --dry-run --hotkey "$validator"
