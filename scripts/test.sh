#!/usr/bin/env bash
# Sets up what is missing (scripts/setup.sh), then runs every test: unit tests, the
# integration tests on the real media set, yt-dlp against a local HTTP server, the Python peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
source .cache/env
# Formatting first (seconds), then lints (clippy shares the build of the dependencies).
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add clippy rustfmt
fi
cargo fmt --check
# The optional backends (ann: usearch; milvus: the Milvus client) are built and tested too.
cargo clippy --locked --all-targets --features ann,milvus -- -D warnings
# Benchmarks must keep compiling; the tests are the library's, the binary's and tests/.
cargo build --locked --benches --features ann,milvus
cargo test --locked --lib --bins --tests --features ann,milvus "$@"
