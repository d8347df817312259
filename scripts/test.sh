#!/usr/bin/env bash
# The README's test command: installs packages, builds, runs the whole suite, then runs it
# again under ASan+UBSan and the threaded tests under TSan. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test || { echo "package install failed"; exit 1; }
total_pass=0
total_fail=0
run_suite() { # name builddir ctest-args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name: build ($dir)"
  local flags=()
  case $name in
    asan) flags=(-DTWOFOLD_SANITIZE=address) ;;
    tsan) flags=(-DTWOFOLD_SANITIZE=thread) ;;
  esac
  if ! bash scripts/build.sh "$dir" "${flags[@]}"; then
    echo "=== $name: BUILD FAILED"
    total_fail=$((total_fail + 1))
    return
  fi
  echo "=== $name: test"
  local log="$dir/ctest.log"
  ctest --test-dir "$dir" --output-on-failure -j2 "$@" 2>&1 | tee "$log"
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$line" ]; then
    total_fail=$((total_fail + 1))
    return
  fi
  local failed all
  failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
  all=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
  total_pass=$((total_pass + all - failed))
  total_fail=$((total_fail + failed))
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run_fuzz() { # each libFuzzer target for SECONDS on its committed corpus
  echo "=== fuzz: $1 s per target"
  local log=build-fuzz.log line
  bash tests/fuzz/run.sh "$1" 2>&1 | tee "$log"
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
  if [ -z "$line" ]; then
    total_fail=$((total_fail + 1))
    return
  fi
  total_pass=$((total_pass + $(echo "$line" | cut -d' ' -f1)))
  total_fail=$((total_fail + $(echo "$line" | cut -d' ' -f3)))
}
start=$(date +%s)
run_suite release build
run_suite asan build-asan
run_suite tsan build-tsan -L threaded
run_fuzz "${TWOFOLD_FUZZ_SECONDS:-60}"
echo "=== total wall time: $(( $(date +%s) - start )) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
