#!/usr/bin/env bash
# Build llama.cpp's own C++ `llama-server` (the bench's strongest peer, and a second real
# OpenAI-compatible server for the remote-backend tests) from the llama.cpp tree vendored in the
# llama-cpp-python sdist on PyPI: the same llama.cpp the factory's wheel is built from, with
# the same CPU flags (-DGGML_NATIVE=OFF: generic x86-64 + AVX2, as in the Makefile).
#
# Nothing is downloaded besides that sdist (pip's cache keeps it): no curl, no OpenSSL, no web UI
# (the UI's assets are not in the sdist and would be fetched from the model hub; the server's API
# works without them). The binary is linked statically and cached, keyed by version, at
#   ${XDG_CACHE_HOME:-~/.cache}/segmento-pulse/llama-server-<version>/llama-server
# so a second run prints that path at once. About 15-25 min on 2 cores.
#
# Usage: scripts/build-llama-server.sh [--force]    (prints the binary's path on stdout)
# Env:   LLAMA_CPP_PYTHON_VERSION (0.3.36), PYTHON (python3), JOBS (2), LLAMA_SERVER_CACHE
set -euo pipefail

VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
CACHE=${LLAMA_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/segmento-pulse/llama-server-$VERSION}
BIN=$CACHE/llama-server
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2}

if [[ -x $BIN && ${1:-} != --force ]]; then
    echo "$BIN"
    exit 0
fi

for tool in cmake g++; do
    command -v "$tool" >/dev/null || {
        echo "building llama-server needs $tool (Debian: apt-get install cmake g++)" >&2
        exit 1
    }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

echo "llama-server $VERSION: fetching the llama-cpp-python sdist" >&2
"$PYTHON" -m pip download --quiet --no-binary :all: --no-deps -d "$work" \
    "llama-cpp-python==$VERSION" >&2
tar -xzf "$work/llama_cpp_python-$VERSION.tar.gz" -C "$work"
src=$work/llama_cpp_python-$VERSION/vendor/llama.cpp
# Where the server lives moved (examples/server -> tools/server) across llama.cpp versions.
[[ -f $src/tools/server/server.cpp || -f $src/examples/server/server.cpp ]] || {
    echo "no llama.cpp server source in the llama-cpp-python $VERSION sdist" >&2
    exit 1
}

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "llama-server $VERSION: configuring and building (-j$JOBS)" >&2
cmake -S "$src" -B "$work/build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    >&2
cmake --build "$work/build" --config Release --target llama-server -j "$JOBS" >&2

built=$(find "$work/build" -type f -name llama-server -perm -u+x | head -n 1)
[[ -n $built ]] || { echo "the build produced no llama-server binary" >&2; exit 1; }
mkdir -p "$CACHE"
install -m 0755 "$built" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "llama-server $VERSION: built in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >&2
echo "$BIN"
