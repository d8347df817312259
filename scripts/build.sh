#!/usr/bin/env bash
# Configures and builds into DIR (default build/). Extra arguments go to cmake.
# Usage: scripts/build.sh [DIR] [-DTWOFOLD_SANITIZE=address ...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
