#!/usr/bin/env bash
# The GPU path, measured: ImageBind-huge (the real architecture, random weights, fp16 export)
# under ONNX Runtime's CUDA provider, beside PyTorch bf16 batched on the same card in the same
# run (benches/gpu_bench.py says what each figure is).
#
#   benches/gpu.sh prepare   here (a registry, no GPU): wheels, and real clips' model inputs
#   benches/gpu.sh receive   on the GPU machine: keep the carried files (call once per part)
#   benches/gpu.sh device    on the GPU machine: install, export, measure; JSON to $OUT or stdout
#   benches/gpu.sh local     all three on one CUDA machine with pip access
#
# The lent device machine (PyTorch 2.11, CUDA 13, no registry, 64 MiB per call, files kept only
# while it is warm) gets: `receive` with `carry: [target/gpu/part-00]`, then part-01, ... in
# consecutive calls, and last `device` with `carry: [target/gpu/small]`. prepare prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
G=target/gpu
KEEP=${OMEGA_GPU_KEEP:-/tmp/omega-gpu}
PART_MB=${OMEGA_GPU_PART_MB:-48}   # the working tree travels too (about 10 MB)

prepare() {
    scripts/setup.sh
    source .cache/env
    rm -rf "$G/small" "$G"/part-*; mkdir -p "$G/whl" "$G/small/whl" "$G/small/inputs"
    # Wheels the GPU machine lacks (its image has torch, timm, onnx, regex, pandas, ...).
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$G/whl" onnxruntime-gpu==1.31.1 \
        imagebind-unofficial==0.1.1 onnxconverter-common==1.16.0 iopath==0.1.9 ftfy==6.3.1
    cp "$G"/whl/*none-any.whl "$G/small/whl/"
    # The big wheel travels in parts, one per call.
    local ort; ort=$(ls "$G"/whl/onnxruntime_gpu-*.whl)
    (cd "$G" && split -b "${PART_MB}M" -d "whl/$(basename "$ort")" "ort.part-")
    for p in "$G"/ort.part-*; do mkdir -p "$G/part-${p##*-}"; mv "$p" "$G/part-${p##*-}/"; done
    basename "$ort" > "$G/small/ort-wheel-name"
    # Model inputs of two real clips, preprocessed by omega (FFmpeg need not travel).
    cargo build --locked --release -q
    rm -rf "$G/media"; mkdir -p "$G/media"
    ln -s "$PWD/.cache/media/bigbuckbunny.mp4" "$PWD/.cache/media/bikes.mp4" "$G/media/"
    target/release/omega search -q --source dir "$G/media" -o "$G/candidates.parquet"
    target/release/omega embed -q -i "$G/candidates.parquet" -o "$G/emb.parquet" \
        --model models/imagebind-tiny --dump-inputs "$G/small/inputs"
    du -sh "$G"/part-* "$G/small"
    echo "device calls: $(ls -d "$G"/part-* | sed 's|.*|receive (carry &)|' | paste -sd, -), device (carry $G/small)"
}

receive() {
    mkdir -p "$KEEP"
    for d in "$G"/part-*; do [ -d "$d" ] && cp "$d"/* "$KEEP/"; done
    ls -la "$KEEP"
}

device() {
    local out=${OUT:-$G/out}; mkdir -p "$out" "$KEEP"
    receive >/dev/null
    local whl="$KEEP/$(cat "$G/small/ort-wheel-name")"
    [ -f "$whl" ] || cat "$KEEP"/ort.part-* > "$whl"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$KEEP/site" "$whl" "$G"/small/whl/*.whl
    export PYTHONPATH="$KEEP/site${PYTHONPATH:+:$PYTHONPATH}"
    python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())'
    [ -f "$KEEP/model/manifest.json" ] || python3 models/export_imagebind.py --random-init --fp16 \
        --out "$KEEP/model"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    PYTHONUNBUFFERED=1 python3 benches/gpu_bench.py --model "$KEEP/model" \
        --inputs "$G/small/inputs" "$@" | tee "$out/gpu.json"
}

case "${1:-}" in
    prepare) prepare ;;
    receive) receive ;;
    device) shift; device "$@" ;;
    local) prepare; shift; device "$@" ;;
    *) sed -n 2,14p "$0"; exit 2 ;;
esac
