#!/usr/bin/env bash
# The Focus marketplace on loopback: get_list and signed purchases per second, 32 clients, on
# SQLite and on PostgreSQL (a throw-away cluster started here); release build.
#   benches/market.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_DIR=$(mktemp -d /tmp/omega-bench-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-p $PORT -k $PG_DIR -c listen_addresses=127.0.0.1" -w -l "$PG_DIR/log" start >/dev/null
trap 'as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null; rm -rf "$PG_DIR"' EXIT
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres market
export OMEGA_BENCH_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/market"
cargo bench --locked --features ann --bench market 2>/dev/null | grep '^{' > target/omega-market.json
python3 - target/omega-market.json <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"| database | get_list requests/s | signed purchases/s |")
print("|---|---|---|")
for r in rows:
    print(f"| {r['database']} | {r['list_rps']:.0f} | {r['purchase_rps']:.0f} |")
PY
