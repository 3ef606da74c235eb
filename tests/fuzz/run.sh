#!/usr/bin/env bash
# Bounded fuzz run of the profile loader and validator (docs/testing.md).
#   tests/fuzz/run.sh [SECONDS=60]
# Configures build-fuzz (clang, CALIB_FUZZ=ON), builds profile_fuzzer, then fuzzes for SECONDS over a
# scratch copy of tests/fuzz/corpus/ so the committed seeds stay as they are. Exits non-zero when the
# fuzzer finds a crash, a leak, UB or a round-trip mismatch; the reproducer lands in the work folder.
# Environment: CALIB_FUZZ_BUILD (default <repo>/build-fuzz), CALIB_FUZZ_WORK (default: a mktemp folder,
# kept when something was found), CALIB_FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${CALIB_FUZZ_BUILD:-$root/build-fuzz}"
work="${CALIB_FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/calib-fuzz.XXXXXX")}"

cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCALIB_FUZZ=ON -DCALIB_BUILD_TESTS=OFF -DCALIB_BUILD_BENCH=OFF -DCALIB_BUILD_PLUGINS=OFF >/dev/null
cmake --build "$build" --target profile_fuzzer -j "${CALIB_FUZZ_JOBS:-2}"

mkdir -p "$work/corpus" "$work/artifacts"
cp "$here"/corpus/* "$work/corpus/"

echo "fuzzing for ${seconds}s in $work"
status=0
"$build/bin/profile_fuzzer" "$work/corpus" \
    -dict="$here/profile.dict" \
    -max_total_time="$seconds" \
    -max_len=65536 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" || status=$?

if [[ $status -ne 0 ]] || compgen -G "$work/artifacts/*" >/dev/null; then
    echo "FAIL: the fuzzer found a problem (exit $status); reproducers:" >&2
    ls -l "$work/artifacts/" >&2
    echo "replay one with: $build/bin/profile_fuzzer <file>" >&2
    exit "$(( status != 0 ? status : 1 ))"
fi
[[ -n "${CALIB_FUZZ_WORK:-}" ]] || rm -rf "$work"
echo "OK: no crash in ${seconds}s"
