#!/usr/bin/env python3
"""PyTorch yardstick for the CUDA plugin's transfer cases: the same sizes (4 KiB to 1 GiB by x4) and
timing rule (CUDA events around N back-to-back copies on one stream, N so a sample takes at least
--sample-ms; best of --samples samples). Host copies per GPU: pinned and pageable, H2D and D2H, with
Tensor.copy_(non_blocking=True); with 2+ GPUs, peer copies (copy_ from GPU a to GPU b, timed on a's
stream) for every ordered pair. Writes JSON {"device": ..., "torch": ..., "h2d_pinned": {bytes: GB/s},
"h2d_pageable": ..., "d2h_pinned": ..., "d2h_pageable": ..., "p2p_0to1": ...} (GPU 0's host copies
unless --all-gpus adds "h2d_pinned_gpu1", ...). NCCL collectives are left to nccl-tests.

    NCCL_NVLS_ENABLE=0 python3 bench/cuda/torch_transfers.py --output torch_transfers.json
"""
import argparse
import json
import os
import sys

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast stays off on shared hosts
if os.environ["NCCL_NVLS_ENABLE"] != "0":
    sys.exit("run with NCCL_NVLS_ENABLE=0")

import torch  # noqa: E402

SIZES = [4096 * 4**i for i in range(10)]  # 4 KiB .. 1 GiB


def time_copies(dst, src, stream, sample_ms, samples):
    """Best seconds per copy over `samples` samples of N back-to-back dst.copy_(src) on `stream`."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with torch.cuda.stream(stream):
        dst.copy_(src, non_blocking=True)  # warm-up
        stream.synchronize()
        n = 1
        while True:  # grow N until one sample lasts sample_ms
            start.record(stream)
            for _ in range(n):
                dst.copy_(src, non_blocking=True)
            stop.record(stream)
            stop.synchronize()
            if start.elapsed_time(stop) >= sample_ms or n >= 1 << 16:
                break
            n *= 2
        best = float("inf")
        for _ in range(samples):
            start.record(stream)
            for _ in range(n):
                dst.copy_(src, non_blocking=True)
            stop.record(stream)
            stop.synchronize()
            best = min(best, start.elapsed_time(stop) / 1e3 / n)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True)
    ap.add_argument("--sample-ms", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--max-bytes", type=int, default=SIZES[-1])
    ap.add_argument("--all-gpus", action="store_true", help="host copies on every GPU, not only GPU 0")
    args = ap.parse_args()
    sizes = [s for s in SIZES if s <= args.max_bytes]
    gpus = torch.cuda.device_count()
    if gpus == 0:
        sys.exit("no CUDA device")
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "gpus": gpus,
           "NCCL_NVLS_ENABLE": os.environ["NCCL_NVLS_ENABLE"]}
    big = sizes[-1]
    host = {"pinned": torch.empty(big, dtype=torch.uint8, pin_memory=True),
            "pageable": torch.empty(big, dtype=torch.uint8)}
    for h in host.values():
        h.fill_(1)  # touch every page
    for g in range(gpus if args.all_gpus else 1):
        suffix = f"_gpu{g}" if g > 0 else ""
        dev = torch.empty(big, dtype=torch.uint8, device=f"cuda:{g}")
        stream = torch.cuda.Stream(device=g)
        with torch.cuda.device(g):
            for memory, h in host.items():
                for direction in ("h2d", "d2h"):
                    key = f"{direction}_{memory}{suffix}"
                    out[key] = {}
                    for s in sizes:
                        dst, src = (dev[:s], h[:s]) if direction == "h2d" else (h[:s], dev[:s])
                        t = time_copies(dst, src, stream, args.sample_ms, args.samples)
                        out[key][s] = s / t / 1e9
                        print(f"{key} {s:>11} B {out[key][s]:8.2f} GB/s", file=sys.stderr)
        del dev
    bufs = [torch.empty(big, dtype=torch.uint8, device=f"cuda:{g}") for g in range(gpus)] if gpus > 1 else []
    for a in range(gpus):
        for b in range(gpus):
            if a == b:
                continue
            key = f"p2p_{a}to{b}"
            out[key] = {}
            stream = torch.cuda.Stream(device=a)
            with torch.cuda.device(a):
                for s in sizes:
                    t = time_copies(bufs[b][:s], bufs[a][:s], stream, args.sample_ms, args.samples)
                    out[key][s] = s / t / 1e9
                    print(f"{key} {s:>11} B {out[key][s]:8.2f} GB/s", file=sys.stderr)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
