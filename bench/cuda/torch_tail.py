#!/usr/bin/env python3
"""Why PyTorch's unfused Linear tail is slower than calib's: its elementwise kernels alone.

For the output shapes of the fused-linear cases, times (CUDA graphs, as torch_compare.py) the broadcast
bias add `y + b` that PyTorch's unfused Linear runs, the same add with a full-size contiguous second
operand, and the activations on a contiguous tensor, and reports each kernel's effective bandwidth
(bytes each must move: read y [+ b], write the result). Writes JSON to --output and a table to stdout.

    python3 bench/cuda/torch_tail.py --output tail.json
"""
import argparse
import json

import torch
import torch.nn.functional as F

from torch_compare import FUSION_SHAPES, dtype_of, time_graph


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", required=True)
    ap.add_argument("--sample-ms", type=float, default=20)
    ap.add_argument("--samples", type=int, default=15)
    args = ap.parse_args()
    rows = []
    for m, _, n in FUSION_SHAPES:
        for prec in ["fp32", "bf16"]:
            dt = dtype_of(prec)
            y = torch.rand(m, n, device="cuda", dtype=dt)
            b = torch.rand(n, device="cuda", dtype=dt)
            full = b.expand(m, n).contiguous()
            es = y.element_size()
            kernels = {
                "add_broadcast": (lambda: y + b, 2 * m * n * es + n * es),
                "add_contiguous": (lambda: y + full, 3 * m * n * es),
                "relu": (lambda: torch.relu(y), 2 * m * n * es),
                "gelu_tanh": (lambda: F.gelu(y, approximate="tanh"), 2 * m * n * es),
            }
            row = {"shape": [m, n], "precision": prec}
            for name, (fn, nbytes) in kernels.items():
                s = time_graph(fn, args.sample_ms, args.samples)
                row[name + "_ms"] = s * 1e3
                row[name + "_gbps"] = nbytes / s / 1e9
            rows.append(row)
            del y, b, full
    with open(args.output, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": rows}, f, indent=1)
    print("| MxN | prec | y+b (broadcast) GB/s | y+full GB/s | relu GB/s | gelu GB/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape'][0]}x{r['shape'][1]} | {r['precision']} | {r['add_broadcast_gbps']:.0f} | "
              f"{r['add_contiguous_gbps']:.0f} | {r['relu_gbps']:.0f} | {r['gelu_tanh_gbps']:.0f} |")


if __name__ == "__main__":
    main()
