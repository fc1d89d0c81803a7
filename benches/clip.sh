#!/usr/bin/env bash
# Benchmark of `omega clip` on local media: clips/s and MB/s with 1 job and with all cores.
# The media set (scripts/media.tsv plus the VP9/Opus file) is replicated COPIES times with a
# different container comment each (ffmpeg stream copy), so every file has its own id and is
# really clipped. Usage: benches/clip.sh [COPIES]   (default 8 -> 80 files)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .cache/env
cargo build --release --locked --quiet
omega=$PWD/target/release/omega
COPIES=${1:-8}
WORK=${WORK:-$PWD/target/bench-clip}
rm -rf "$WORK"; mkdir -p "$WORK/src"
for i in $(seq 1 "$COPIES"); do
  for f in "$OMEGA_MEDIA_DIR"/*; do
    name=$(basename "$f"); ext=${name##*.}
    ffmpeg -nostdin -loglevel error -i "$f" -map 0 -c copy -metadata comment="copy $i" "$WORK/src/${name%.*}_$i.$ext"
  done
done
$omega search --source dir "$WORK/src" -o "$WORK/candidates.parquet" --quiet
echo "files: $(ls "$WORK/src" | wc -l), $(du -sh "$WORK/src" | cut -f1); cores: $(nproc)"
for jobs in 1 "$(nproc)"; do
  runs=()
  for _ in 1 2 3; do
    rm -rf "$WORK/media"
    runs+=("$($omega clip "$WORK/candidates.parquet" -o "$WORK/clips.parquet" --media-dir "$WORK/media" \
      --jobs "$jobs" --json --quiet)")
  done
  python3 - "$jobs" "${runs[@]}" <<'PY'
import json, sys
s = min((json.loads(r) for r in sys.argv[2:]), key=lambda s: s["seconds"])
ok = s["status"]["ok"]
print(f"--jobs {sys.argv[1]}: {s['rows']} rows ({ok} ok), {s['seconds']:.3f} s, "
      f"{ok / s['seconds']:.1f} clips/s, {s['mb_per_second']:.1f} MB/s of clips written (best of 3)")
PY
done
