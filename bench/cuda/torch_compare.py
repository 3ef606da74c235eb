#!/usr/bin/env python3
"""PyTorch yardstick for the CUDA plugin: the same shapes, precisions and timing rule as calib.

Times torch.matmul, Tensor.copy_ and Linear (torch.addmm / torch._addmm_activation against separate
matmul, add and activation) with CUDA events around one CUDA graph of N back-to-back calls (as the
plugin does), N chosen so one sample takes at least --sample-ms, and reports the median seconds per call
over --samples samples (hot L2, as the plugin's default). Fusion cases are also timed eagerly (events
around N Python-level calls) for reference: at small shapes eager timing measures the host's dispatch
(~10 us per op), so its "speedup" is a ratio of launch overheads. Writes JSON: {"device": ..., "torch": ..., "matmul": [...], "copy": [...],
"fusion": [...]}; compare.py joins it with a calib profile.

    python3 bench/cuda/torch_compare.py --output torch.json
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F

SQUARE = [1024, 2048, 4096, 8192]
INFERENCE = [(1, 4096, 4096), (32, 4096, 4096), (128, 4096, 4096)]
FUSION_SHAPES = [(128, 512, 512), (512, 1024, 1024), (1024, 2048, 2048), (2048, 2048, 2048), (8192, 4096, 4096)]
L2_MULTIPLES = [0.25, 0.5, 1, 2, 4, 8, 16]


def time_call(fn, sample_ms, samples):
    """Median seconds per call: events around n back-to-back calls, n sized from a probe."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    n = 1
    while True:
        start.record()
        for _ in range(n):
            fn()
        stop.record()
        stop.synchronize()
        ms = start.elapsed_time(stop)
        if ms >= sample_ms or n >= 1 << 16:
            break
        n = min(1 << 16, max(n * 2, int(n * sample_ms / max(ms, 1e-3)) + 1))
    per_call = []
    for _ in range(samples):
        start.record()
        for _ in range(n):
            fn()
        stop.record()
        stop.synchronize()
        per_call.append(start.elapsed_time(stop) / 1e3 / n)
    return statistics.median(per_call)


def time_graph(fn, sample_ms, samples, max_calls=20000):
    """Median seconds per call: events around the replay of a CUDA graph of n captured calls."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()

    def build(n):
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(n):
                fn()
        return g

    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def replay_ms(g):
        start.record()
        g.replay()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop)

    g = build(1)
    replay_ms(g)
    one = min(replay_ms(g) for _ in range(5))
    n = max(1, min(max_calls, int(sample_ms / max(one, 1e-4)) + 1))
    del g
    g = build(n)
    replay_ms(g)
    per_call = [replay_ms(g) / 1e3 / n for _ in range(samples)]
    del g
    return statistics.median(per_call)


def dtype_of(math):
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[math]


def bench_matmul(args):
    out = []
    for math in ["fp32", "tf32", "bf16", "fp16"]:
        torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
        shapes = [(n, n, n) for n in SQUARE] + INFERENCE
        for m, k, n in shapes:
            name = f"matmul_{math}_{n}" if (m == k == n) else f"matmul_{math}_{m}x{k}x{n}"
            if args.only_matmul and name != args.only_matmul:
                continue
            a = torch.rand(m, k, device="cuda", dtype=dtype_of(math)) * 2 - 1
            b = torch.rand(k, n, device="cuda", dtype=dtype_of(math)) * 2 - 1
            s = time_graph(lambda: torch.matmul(a, b), args.sample_ms, args.samples)
            out.append({"case": name, "math": math, "shape": [m, k, n], "seconds": s,
                        "gflops": 2.0 * m * k * n / s / 1e9})
            del a, b
    torch.backends.cuda.matmul.allow_tf32 = False
    return out


def bench_copy(args):
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    out = []
    unit = 1 << 16
    for mult in L2_MULTIPLES:
        array_bytes = max(unit, int(mult * l2 / 2 / unit) * unit)  # as the plugin: 2 arrays, 64 KiB units
        src = torch.rand(array_bytes // 4, device="cuda")
        dst = torch.empty_like(src)
        s = time_graph(lambda: dst.copy_(src), args.sample_ms, args.samples)
        out.append({"working_set_bytes": 2 * array_bytes, "l2_multiple": mult, "seconds": s,
                    "gbps": 2 * array_bytes / s / 1e9})
        del src, dst
    return out


def bench_fusion(args):
    out = []
    patterns = {
        "Linear_Bias": (lambda x, w, b: torch.addmm(b, x, w.t()),
                        lambda x, w, b: torch.matmul(x, w.t()) + b),
        "Linear_Bias_ReLU": (lambda x, w, b: torch._addmm_activation(b, x, w.t(), use_gelu=False),
                             lambda x, w, b: torch.relu(torch.matmul(x, w.t()) + b)),
        "Linear_Bias_GELU": (lambda x, w, b: torch._addmm_activation(b, x, w.t(), use_gelu=True),
                             lambda x, w, b: F.gelu(torch.matmul(x, w.t()) + b, approximate="tanh")),
    }
    for pattern, (fused, unfused) in patterns.items():
        for m, k, n in FUSION_SHAPES:
            for prec in ["fp32", "bf16"]:
                dt = dtype_of(prec)
                x = torch.rand(m, k, device="cuda", dtype=dt) * 2 - 1
                w = torch.rand(n, k, device="cuda", dtype=dt) * 2 - 1
                b = torch.rand(n, device="cuda", dtype=dt) * 2 - 1
                tf = time_graph(lambda: fused(x, w, b), args.sample_ms, args.samples)
                tu = time_graph(lambda: unfused(x, w, b), args.sample_ms, args.samples)
                # Where the unfused time goes: the GEMM alone, then the elementwise tail alone.
                y = torch.matmul(x, w.t())
                tail = {"Linear_Bias": lambda: y + b, "Linear_Bias_ReLU": lambda: torch.relu(y + b),
                        "Linear_Bias_GELU": lambda: F.gelu(y + b, approximate="tanh")}[pattern]
                tm = time_graph(lambda: torch.matmul(x, w.t()), args.sample_ms, args.samples)
                tt = time_graph(tail, args.sample_ms, args.samples)
                ef = time_call(lambda: fused(x, w, b), args.sample_ms, args.samples)
                eu = time_call(lambda: unfused(x, w, b), args.sample_ms, args.samples)
                out.append({"pattern": pattern, "precision": prec, "shape": [m, k, n],
                            "group": f"{pattern}_{prec}_{m}x{k}x{n}", "fused_seconds": tf,
                            "unfused_seconds": tu, "speedup": tu / tf,
                            "matmul_seconds": tm, "tail_seconds": tt,
                            "eager_fused_seconds": ef, "eager_unfused_seconds": eu, "eager_speedup": eu / ef})
                del x, w, b, y
    return out


ATTENTION_SHAPES = [(1, 128, 64), (4, 256, 64), (8, 512, 64), (8, 1024, 64), (32, 1024, 64), (32, 2048, 64),
                    (16, 4096, 64)]


def bench_attention(args):
    """FullAttention: scaled_dot_product_attention (PyTorch's fused kernel) against matmul, softmax, matmul."""
    out = []
    for bsz, seq, dim in ATTENTION_SHAPES:
        for prec in ["bf16", "fp16"]:
            dt = dtype_of(prec)
            # 4-D (1, heads, S, D): SDPA's flash backend takes batch x heads x seq x dim.
            q, k, v = (torch.rand(1, bsz, seq, dim, device="cuda", dtype=dt) * 2 - 1 for _ in range(3))
            scale = dim ** -0.5
            fused = lambda: F.scaled_dot_product_attention(q, k, v)
            unfused = lambda: torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, dim=-1), v)
            tf = time_graph(fused, args.sample_ms, args.samples)
            tu = time_graph(unfused, args.sample_ms, args.samples)
            out.append({"pattern": "FullAttention", "precision": prec, "shape": [bsz, seq, dim],
                        "group": f"FullAttention_{prec}_{bsz}x{seq}x{dim}", "fused_seconds": tf,
                        "unfused_seconds": tu, "speedup": tu / tf})
            del q, k, v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--only-matmul", help="time just this matmul case (e.g. matmul_bf16_8192) and stop")
    ap.add_argument("--sample-ms", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=9)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device visible to PyTorch", file=sys.stderr)
        return 2
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "rule": "median over samples of event time / n calls replayed from one CUDA graph, hot L2"}
    result["matmul"] = bench_matmul(args)
    if args.only_matmul:
        result["matmul"] = [m for m in result["matmul"] if m["case"] == args.only_matmul]
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
        return 0
    result["copy"] = bench_copy(args)
    result["fusion"] = bench_fusion(args)
    result["attention"] = bench_attention(args)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
