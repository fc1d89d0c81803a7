#!/usr/bin/env bash
# The demo pipeline, end to end, on the bundled real media (fetched from the package registries
# by scripts/setup.sh): search a folder -> clip -> embed (with the tiny stand-in ImageBind in
# models/imagebind-tiny; pass MODEL=DIR for a real export) -> validate -> dedup -> score. Each stage's output is a Parquet
# table in $OUT (default out/demo); clips go to $OUT/media.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
source .cache/env
# A first build compiles ~300 crates (FFmpeg bindings, Arrow, Parquet, ONNX Runtime's API):
# about 10 minutes on 2 cores, seconds afterwards. Cargo shows its progress (a bar on a
# terminal, one line per crate in a log); a rebuild with nothing to do only says "Finished".
if [ ! -x target/release/omega ]; then
  echo "== building omega in release mode: the first build takes about 10 minutes on 2 cores" >&2
fi
cargo build --release --locked
omega=target/release/omega
OUT=${OUT:-out/demo}
mkdir -p "$OUT"

echo "== omega search: every media file under $OMEGA_MEDIA_DIR"
$omega search --source dir "$OMEGA_MEDIA_DIR" --query "demo: real media from the package registries" \
  -o "$OUT/candidates.parquet"
echo
echo "== omega clip: at most 120 s per video, stream copy, into $OUT/media"
$omega clip -i "$OUT/candidates.parquet" -o "$OUT/clips.parquet" --media-dir "$OUT/media"
echo
echo
echo "== omega embed: ImageBind video/audio/description embeddings (model: ${MODEL:-models/imagebind-tiny})"
$omega embed -i "$OUT/clips.parquet" -o "$OUT/embeddings.parquet" --model "${MODEL:-models/imagebind-tiny}"
echo
$omega show "$OUT/embeddings.parquet" -c title,status,error_class,clip_duration_s,video_codec,embedded_audio_codec,video_emb,text_chunks
echo
echo "== omega validate: the clips as one answer per query, every video re-fetched and re-embedded"
$omega validate -i "$OUT/embeddings.parquet" -o "$OUT/validated.parquet" --model "${MODEL:-models/imagebind-tiny}" \
  --check all --media-dir "$OUT/recheck"
echo
echo "== omega dedup: duplicates within the answer, novelty against the index in $OUT/index"
rm -rf "$OUT/index"
$omega dedup -i "$OUT/validated.parquet" -o "$OUT/deduped.parquet" --index "$OUT/index" --insert
echo
echo "== omega score: relevance and richness (text model: ${OMEGA_TEXT_MODEL})"
$omega score -i "$OUT/deduped.parquet" -o "$OUT/scored.parquet" --model "${MODEL:-models/imagebind-tiny}" --state "$OUT/state.json"
echo
$omega show "$OUT/scored.parquet" -c video_id,check_passed,novelty,description_relevance,query_relevance,status,error_class,answer_score
echo
echo "== omega push-hf: the accepted rows as a Hugging Face dataset in $OUT/dataset"
rm -rf "$OUT/dataset"
$omega push-hf -i "$OUT/scored.parquet" --to "$OUT/dataset" --model "${MODEL:-models/imagebind-tiny}"
find "$OUT/dataset" -name '*.parquet' -not -path '*/.omega-spool/*' | sed "s|^|  |"
echo "Load it with: python3 -c \"import datasets; print(datasets.load_dataset('$OUT/dataset', split='train'))\""
echo "(the same command with --repo ORG/NAME instead of --to DIR publishes it on the Hub)"
echo
echo "Done: tables in $OUT (candidates, clips, embeddings, validated, deduped, scored), the dataset in $OUT/dataset; clips in $OUT/media."
echo "Inspect any of them with: $omega show $OUT/scored.parquet"
