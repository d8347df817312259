#!/bin/bash
# Builds (if needed) and runs the libFuzzer targets, one after another, each for SECONDS
# on a temporary copy of its committed corpus (tests/fuzz/corpus/<target>/; fuzz_pem also
# gets certificate/key seeds generated now by gen_pem_seeds.sh) with its dictionary.
#
# Usage: tests/fuzz/run.sh SECONDS [TARGET...]
#   TARGET: http1_request http1_response chunked config clienthello pem h2_session
#           (default: all)
# Environment:
#   TWOFOLD_FUZZ_BUILD  build directory (default: <repo>/build-fuzz)
#   TWOFOLD_FUZZ_OUT    where logs and crash inputs are kept (default: a new temp dir)
#   TWOFOLD_FUZZ_NO_BUILD=1  run the binaries already in the build directory
#
# Prints per target the executions, exec/s, coverage and "OK" or the crash, and ends with
# "N passed, N failed"; exits non-zero when any target crashed (or failed to run).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
all=(http1_request http1_response chunked config clienthello pem h2_session)

secs=${1:-}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
shift
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
    if [[ ! -f $here/fuzz_$t.c ]]; then
        echo "unknown target: $t (known: ${all[*]})" >&2
        exit 2
    fi
done

build=${TWOFOLD_FUZZ_BUILD:-$root/build-fuzz}
out=${TWOFOLD_FUZZ_OUT:-$(mktemp -d /tmp/twofold-fuzz.XXXXXX)}
mkdir -p "$out"

if [[ ${TWOFOLD_FUZZ_NO_BUILD:-} == 1 ]]; then
    :
elif [[ ! -f $build/CMakeCache.txt ]]; then
    CC=clang cmake -S "$root" -B "$build" -DTWOFOLD_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out/configure.log" 2>&1 || {
        cat "$out/configure.log" >&2
        echo "0 passed, ${#targets[@]} failed"
        exit 1
    }
fi
if [[ ${TWOFOLD_FUZZ_NO_BUILD:-} != 1 ]] &&
    ! cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}" >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

# Extra libFuzzer options per target.
opts_for() {
    case $1 in
    pem) echo "-max_len=8192" ;;
    config) echo "-max_len=8192" ;;
    clienthello) echo "-max_len=131396" ;; # OpenSSL's largest ClientHello: lists at the limit
    h2_session) echo "-max_len=16384" ;;
    *) echo "-max_len=4096" ;;
    esac
}

passed=0
failed=0
for t in "${targets[@]}"; do
    work="$out/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp "$here/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
    if [[ $t == pem ]] && ! bash "$here/gen_pem_seeds.sh" "$work/corpus" >"$work/seeds.log" 2>&1; then
        echo "$t: cannot generate PEM seeds (see $work/seeds.log)"
        failed=$((failed + 1))
        continue
    fi
    dict=()
    [[ -f $here/$t.dict ]] && dict=("-dict=$here/$t.dict")
    log="$work/fuzz.log"
    # shellcheck disable=SC2046 # opts_for prints separate words
    "$build/tests/fuzz/fuzz_$t" "$work/corpus" -max_total_time="$secs" -timeout=30 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" \
        $(opts_for "$t") >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1)
    if ((rc == 0)) && grep -q 'DONE' "$log"; then
        echo "$t: ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-cov: ?}, ${ft:-ft: ?}: OK"
        passed=$((passed + 1))
    else
        crash=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o \
            -name 'timeout-*' -o -name 'oom-*' \) | head -1)
        why=$(grep -m1 -E 'property failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log")
        echo "$t: CRASH (exit $rc) after ${execs:-?} executions: ${why:-see log}"
        echo "    input: ${crash:-none saved}"
        echo "    log:   $log"
        failed=$((failed + 1))
    fi
done
echo "logs in $out"
echo "$passed passed, $failed failed"
((failed == 0))
