#!/usr/bin/env bash
# Sets up what is missing (scripts/setup.sh), then runs every test: unit tests, the
# integration tests on the real media set, yt-dlp against a local HTTP server, the Python peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
source .cache/env
# Benchmarks must keep compiling; the tests are the library's, the binary's and tests/.
cargo build --locked --benches --features ann
cargo test --locked --lib --bins --tests --features ann "$@"
