#!/usr/bin/env bash
# Sets up what is missing (scripts/setup.sh), then runs every test: unit tests, the
# integration tests on the real media set, yt-dlp against a local HTTP server, the Python peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
source .cache/env
cargo test --locked --all-targets --features ann "$@"
