#!/usr/bin/env python3
"""Agreement of calib profiles measured again (issue #20's test of honest intervals).

    bench/agreement.py A.json B.json [C.json ...] [--markdown] [--only-clean]

For every figure present in two profiles (fusion speedups, matmul GFLOPS, memory GB/s), with each
record's 95% interval taken on the log scale (se = (ln high - ln low) / 3.92):

    z = |ln s2 - ln s1| / sqrt(se1^2 + se2^2)

Honest 95% intervals give z < 1.96 for about 95% of pairs ("agreement"). Every pair of profiles is
compared. Also printed: the median interval half-width (relative), the pairs more than 5% apart, and
for fusion, verdict tiers that differ although neither interval straddles a tier boundary.
--only-clean skips records flagged `disturbed` in either profile (the co-runner test).
"""
import itertools
import json
import math
import statistics
import sys

TIERS = [(1.5, "strong"), (1.1, "moderate"), (0.95, "minimal")]


def tier(x):
    for bound, name in TIERS:
        if x >= bound:
            return name
    return "slower"


def interval(extra, figure, inverse):
    """A record's 95% interval of its figure: the explicit one, else median +- noise."""
    lo, hi = extra.get("ci_low"), extra.get("ci_high")
    if lo and hi and lo > 0 and hi > 0:
        return lo, hi
    noise = extra.get("noise")
    if noise is None or not (0 <= noise < 1):
        return None
    # noise is the relative half-width of the latency median's interval; a rate is its inverse.
    if inverse:
        return figure / (1 + noise), figure / (1 - noise)
    return figure * (1 - noise), figure * (1 + noise)


def figures(profile):
    """{key: (category, figure, lo, hi, disturbed, tier_or_None)}"""
    out = {}
    for key, r in (profile.get("operation_profiles") or {}).items():
        e = r.get("extra_params") or {}
        if e.get("status", "ok") != "ok":
            continue
        if r.get("operation_type") == "matmul":
            fig = r.get("measured_gflops") or 0
            cat = "matmul"
        else:
            fig = r.get("achieved_bandwidth_gbps") or 0
            cat = "memory"
        iv = interval(e, fig, True)
        if fig > 0 and iv:  # by case: a memory_copy record and its sweep point are one figure
            out[cat + ":" + e.get("case", key)] = (cat, fig, iv[0], iv[1], bool(e.get("disturbed")), None)
    for r in profile.get("memory_sweep") or []:
        fig = r.get("gbps") or 0
        iv = interval(r, fig, True)
        if fig > 0 and iv:
            out["memory:" + r.get("case", "?")] = ("memory", fig, iv[0], iv[1], bool(r.get("disturbed")), None)
    for key, r in (profile.get("fusion_profiles") or {}).items():
        e = r.get("extra_params") or {}
        if e.get("status", "ok") != "ok":
            continue
        s = r.get("speedup_factor") or 0
        lo, hi = e.get("speedup_ci_low") or 0, e.get("speedup_ci_high") or 0
        if s > 0 and lo > 0 and hi > 0:
            k = "fusion:" + e.get("fused_case", key)  # a bare key repeats a shaped record
            out[k] = ("fusion", s, lo, hi, bool(e.get("disturbed")), tier(s))
    return out


def compare(a, b, only_clean):
    rows = []
    for k in sorted(set(a) & set(b)):
        ca, sa, la, ha, da, ta = a[k]
        _, sb, lb, hb, db, tb = b[k]
        if only_clean and (da or db):
            continue
        se_a = max(math.log(ha) - math.log(la), 0) / 3.92
        se_b = max(math.log(hb) - math.log(lb), 0) / 3.92
        d = abs(math.log(sb) - math.log(sa))
        se = math.hypot(se_a, se_b)
        z = d / se if se > 0 else (0 if d == 0 else math.inf)
        tier_differs = ta is not None and ta != tb and tier(la) == tier(ha) and tier(lb) == tier(hb)
        rows.append((k, ca, z, d, tier_differs))
    return rows


def summarise(label, rows):
    if not rows:
        return None
    n = len(rows)
    agree = sum(1 for r in rows if r[2] < 1.96) / n
    apart = sum(1 for r in rows if r[3] > math.log(1.05))
    tiers = sum(1 for r in rows if r[4])
    return label, n, agree, apart, tiers


def main(argv):
    md = "--markdown" in argv
    only_clean = "--only-clean" in argv
    paths = [p for p in argv if not p.startswith("--")]
    if len(paths) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    profs = [figures(json.load(open(p))) for p in paths]
    widths = {}
    for prof in profs:
        for k, (cat, s, lo, hi, *_rest) in prof.items():
            widths.setdefault(cat, []).append((hi - lo) / 2 / s)
    all_rows = []
    lines = []
    for (i, a), (j, b) in itertools.combinations(enumerate(profs), 2):
        rows = compare(a, b, only_clean)
        all_rows += rows
        for cat in ("fusion", "matmul", "memory"):
            s = summarise(f"run {i + 1} vs {j + 1} {cat}", [r for r in rows if r[1] == cat])
            if s:
                lines.append(s)
        s = summarise(f"run {i + 1} vs {j + 1} all", rows)
        if s:
            lines.append(s)
    total = summarise("every pair, all figures", all_rows)
    if md:
        print("| comparison | figures | agreement (z < 1.96) | more than 5% apart | fusion tiers differing (no straddle) |")
        print("|---|---|---|---|---|")
        for label, n, agree, apart, tiers in lines + ([total] if total else []):
            print(f"| {label} | {n} | {agree:.3f} | {apart} | {tiers} |")
        print()
        print("| figures | median 95% half-width | 90th percentile |")
        print("|---|---|---|")
        everything = []
        for cat, w in sorted(widths.items()):
            everything += w
            print(f"| {cat} | {100 * statistics.median(w):.2f}% | {100 * sorted(w)[int(0.9 * (len(w) - 1))]:.2f}% |")
        if everything:
            print(f"| all | {100 * statistics.median(everything):.2f}% | "
                  f"{100 * sorted(everything)[int(0.9 * (len(everything) - 1))]:.2f}% |")
    else:
        for label, n, agree, apart, tiers in lines + ([total] if total else []):
            print(f"{label:34s} n={n:4d} agreement={agree:.3f} apart>5%={apart:3d} tiers_differ={tiers}")
        everything = []
        for cat, w in sorted(widths.items()):
            everything += w
            print(f"half-width {cat:8s} median {100 * statistics.median(w):.2f}%")
        if everything:
            print(f"half-width all      median {100 * statistics.median(everything):.2f}%")
        worst = sorted(all_rows, key=lambda r: -r[2])[:8]
        for k, cat, z, d, _ in worst:
            print(f"  worst z={z:6.2f} apart={100 * (math.exp(d) - 1):6.1f}%  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
