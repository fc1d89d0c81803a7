#!/usr/bin/env bash
# Preprocessing speed of omega vs the reference's libraries on the same files and cores.
#   benches/embed.sh REFERENCE_PYTHON
# REFERENCE_PYTHON: a Python with torch 2.5.1, torchaudio 2.5.1 and decord 0.6.0, e.g.
#   python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.5.1 torchaudio==2.5.1 torchvision==0.20.1 decord==0.6.0
# Besides the media set it times a 120 s clip (Big Buck Bunny looped with stream copy), the
# length SN24 miners submit. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:?usage: benches/embed.sh REFERENCE_PYTHON}
scripts/setup.sh
source .cache/env
WORK=${WORK:-$PWD/target/bench-embed}
mkdir -p "$WORK"
[ -s "$WORK/long120.mp4" ] || ffmpeg -nostdin -v error -y -stream_loop 23 -i "$OMEGA_MEDIA_DIR/bigbuckbunny.mp4" -t 120 -c copy "$WORK/long120.mp4"
OMEGA_BENCH_EXTRA="$WORK/long120.mp4" cargo bench --locked --bench embed 2>/dev/null > "$WORK/omega.json"
files=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["per_file"]))' "$WORK/omega.json")
(cd "$OMEGA_MEDIA_DIR" && cp "$WORK/long120.mp4" . 2>/dev/null; "$REF" "$OLDPWD/benches/reference_preprocess.py" "$(nproc)" $files) > "$WORK/reference.json"
rm -f "$OMEGA_MEDIA_DIR/long120.mp4"
python3 - "$WORK/omega.json" "$WORK/reference.json" <<'PY'
import json, sys
ours, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("| file | omega video ms | omega audio ms | omega per video ms | reference ms | ratio |")
print("|---|---|---|---|---|---|")
tot_o = tot_r = 0
for f, v in ours["per_file"].items():
    o = v["video_and_audio_s"]; r = ref[f]["video_s"] + (ref[f]["audio_s"] or 0)
    if f != "long120.mp4":
        tot_o += o; tot_r += r
    a = f"{v['audio_s']*1000:.0f}" if v["audio_s"] else "-"
    print(f"| {f} | {v['video_s']*1000:.0f} | {a} | {o*1000:.0f} | {r*1000:.0f} | {r/o:.1f}× |")
print(f"| media set, one video at a time | | | {tot_o*1000:.0f} | {tot_r*1000:.0f} | {tot_r/tot_o:.1f}× |")
print(f"\nall files on all cores: omega {ours['parallel_preprocess_s']:.2f} s; "
      f"embed with {ours['model']}: {ours['videos_per_second']:.1f} videos/s ({ours['threads']} threads)")
PY
