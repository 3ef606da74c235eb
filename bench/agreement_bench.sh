#!/bin/sh
# Issue #20's agreement test: three back-to-back full runs (every pair compared), then a run beside a
# co-runner (a busy loop on one CPU from 10 s to 30 s), compared with the last quiet run on its clean
# records. Usage: bench/agreement_bench.sh [BUILD_DIR] [OUT_DIR]; prints markdown for docs/performance.md.
set -eu
build=${1:-build}
out=${2:-/tmp/calib-agreement}
here=$(dirname "$0")
host="$build/bin/calib-host"
mkdir -p "$out"
for i in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$out/time$i" "$host" run -q --output "$out/run$i.json"
done
python3 "$here/corunner_bench.py" "$host" "$out/corunner.json" > "$out/corunner.txt" || true
/usr/bin/time -f "%e %M" -o "$out/time_quick" "$host" run -q --quick --output "$out/quick.json"

echo "### Three back-to-back full runs ($(date -u +%Y-%m-%d), $(nproc) CPUs)"
echo
for i in 1 2 3; do
    read -r wall rss < "$out/time$i"
    echo "- run $i: ${wall} s wall, peak RSS $((rss / 1024)) MiB"
done
read -r wall rss < "$out/time_quick"
echo "- \`--quick\`: ${wall} s wall, peak RSS $((rss / 1024)) MiB"
echo
python3 "$here/agreement.py" "$out/run1.json" "$out/run2.json" "$out/run3.json" --markdown
echo
echo "### Beside a co-runner"
echo
sed 's/^/    /' "$out/corunner.txt"
echo
echo "Its records not flagged disturbed against quiet run 3:"
echo
python3 "$here/agreement.py" "$out/run3.json" "$out/corunner.json" --only-clean --markdown | sed -n '1,7p'
