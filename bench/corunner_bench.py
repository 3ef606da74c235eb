#!/usr/bin/env python3
"""A calibration beside a co-runner (issue #20): is every record timed beside it flagged or measured again?

    bench/corunner_bench.py CALIB_HOST OUT.json [--start S] [--seconds S] [-- extra calib-host args]

Runs `CALIB_HOST run -v --output OUT.json`, and from --start seconds (default 10) for --seconds
(default 20) a busy loop holds one CPU. A case whose progress line came after the co-runner started and
which started (its line's time minus its case_seconds) before it stopped was timed beside it; each must
be flagged `disturbed`, have been measured again
in the end-of-run pass (`placement_retry` replaced/deferred), or have had its samples beside the
co-runner discarded (`disturbed_discarded` > 0: the policy waited and measured again). Prints the
counts and every case that is none of these; exit 1 if there is one. The further replicas run after the
main pass, once the co-runner is gone; a replica timed beside one is dropped (`replicas` < 2).
"""
import json
import re
import subprocess
import sys
import threading
import time


def main(argv):
    args = argv[:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    start, seconds = 10.0, 20.0
    if "--start" in args:
        start = float(args.pop(args.index("--start") + 1))
        args.remove("--start")
    if "--seconds" in args:
        seconds = float(args.pop(args.index("--seconds") + 1))
        args.remove("--seconds")
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    host, out = args
    t0 = time.monotonic()
    proc = subprocess.Popen([host, "run", "-v", "--output", out] + extra, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    lines = []

    def reader():
        for line in proc.stderr:
            lines.append((time.monotonic() - t0, line.rstrip("\n")))

    th = threading.Thread(target=reader)
    th.start()
    time.sleep(start)
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    on = time.monotonic() - t0
    time.sleep(seconds)
    busy.kill()
    busy.wait()
    off = time.monotonic() - t0
    proc.wait()
    th.join()
    wall = time.monotonic() - t0

    prof = json.load(open(out))
    facts = {}
    for r in (prof.get("operation_profiles") or {}).values():
        e = r.get("extra_params") or {}
        facts[e.get("case")] = e
    for r in prof.get("memory_sweep") or []:
        facts[r.get("case")] = r
    for r in (prof.get("fusion_profiles") or {}).values():
        e = r.get("extra_params") or {}
        facts[e.get("fused_case")] = e

    pat = re.compile(r"^\[\d+/\d+\] (\S+) (\S+): (\S+)")
    beside, flagged, retried, discarded, none = [], [], [], [], []
    for t, line in lines:
        m = pat.match(line)
        if not m or t < on:
            continue
        case, status = m.group(2), m.group(3)
        e = facts.get(case, {})
        # case_seconds of a record pooled from replicas sums them: longer than this line's case, so the
        # test only counts more cases as beside.
        if status != "ok" or t - (e.get("case_seconds") or 0) - 0.05 > off:
            continue
        beside.append(case)
        if e.get("disturbed"):
            flagged.append(case)
        elif e.get("placement_retry") in ("replaced", "deferred"):
            retried.append(case)
        elif (e.get("disturbed_discarded") or 0) > 0:
            discarded.append(case)
        else:
            none.append(case)
    pl = prof["run"]["policy"]["placement"]
    print(f"run {wall:.1f} s; co-runner (a busy loop on one CPU) from {on:.1f} s to {off:.1f} s")
    print(f"cases finished beside it: {len(beside)}; flagged disturbed: {len(flagged)}; measured again at the "
          f"end: {len(retried)}; samples beside it discarded and taken again: {len(discarded)}; none of these: "
          f"{len(none)}")
    print(f"run.policy.placement: disturbed_cases {pl.get('disturbed_cases')}, flagged_cases "
          f"{pl.get('flagged_cases')}, retried {pl.get('retried_cases')}, replaced {pl.get('replaced_cases')}, "
          f"deferred {pl.get('deferred_cases')}")
    for c in none:
        print("  not caught:", c)
    return 1 if none else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
