#!/usr/bin/env python3
"""PyTorch yardstick for the CUDA plugin's energy figures (issue #23): one 8192^3 bf16 torch.matmul on GPU 0.

1. idle: NVML power draw averaged over --idle-seconds (2 s) with the CUDA context up and nothing running;
2. burst: best of --bursts (5) bursts of ~--burst-ms (100 ms) of back-to-back matmuls, CUDA events around
   each (the cool GPU's figure, as calib's burst measurement);
3. sustained: after a --warmup (2 s) of back-to-back matmuls, --seconds (10 s) more, kept queued (the host
   waits on the chunk before the last); NVML total energy read before and after, wall time with
   torch.cuda.synchronize() around, iterations counted: TFLOPS, average power (energy / time), pJ/FLOP
   (and above idle), the SM clock and the throttle reasons seen during the window (polled per chunk),
   the power- and thermal-capped time (nvmlDeviceGetViolationStatus), and at the end the SM and
   memory clocks, temperature, power limit and throttle reasons.

    NCCL_NVLS_ENABLE=0 python3 bench/cuda/torch_energy.py --output torch_energy.json [--seconds 10]

Needs pynvml (pip install nvidia-ml-py). Writes JSON: {"device", "torch", "driver", "env", "gemm", "idle",
"burst", "sustained", "end"}.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast stays off on shared hosts
if os.environ["NCCL_NVLS_ENABLE"] != "0":
    sys.exit("run with NCCL_NVLS_ENABLE=0")

try:
    import pynvml
except ImportError:
    sys.exit("torch_energy.py needs pynvml for NVML's power and energy counters: pip install nvidia-ml-py")
import torch

N = 8192
FLOPS = 2.0 * N * N * N

# nvmlClocksEventReason* bits (nvml.h); idle (0x1) is not throttling.
REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
           0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
           0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting"}


def reason_names(bits):
    names = [name for bit, name in REASONS.items() if bits & bit]
    rest = bits & ~sum(REASONS)
    if rest:
        names.append(f"other_0x{rest:x}")
    return names


def nvml_handle():
    """GPU 0 of torch (CUDA numbering) in NVML: by PCI bus id, else UUID, else NVML index 0."""
    p = torch.cuda.get_device_properties(0)
    if all(hasattr(p, a) for a in ("pci_domain_id", "pci_bus_id", "pci_device_id")):
        try:
            bus = f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
            return pynvml.nvmlDeviceGetHandleByPciBusId(bus)
        except pynvml.NVMLError:
            pass
    if hasattr(p, "uuid"):
        try:
            return pynvml.nvmlDeviceGetHandleByUUID("GPU-" + str(p.uuid))
        except pynvml.NVMLError:
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(0)


def call(fn, *args):
    """An NVML reading, or None where the device does not support it."""
    try:
        return fn(*args)
    except (pynvml.NVMLError, AttributeError):
        return None


def energy_j(h):
    mj = call(pynvml.nvmlDeviceGetTotalEnergyConsumption, h)
    return None if mj is None else mj / 1e3


def throttle_bits(h):
    fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        getattr(pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    bits = None if fn is None else call(fn, h)
    return 0 if bits is None else int(bits)


def capped_seconds(h):
    """(power-capped, thermal-capped) seconds since an arbitrary origin, or None each."""
    out = []
    for policy in (0, 1):  # NVML_PERF_POLICY_POWER, NVML_PERF_POLICY_THERMAL
        v = call(pynvml.nvmlDeviceGetViolationStatus, h, policy)
        out.append(None if v is None else v.violationTime / 1e9)
    return out


def diff(a, b):
    return None if a is None or b is None else b - a


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True)
    ap.add_argument("--seconds", type=float, default=10.0, help="sustained window (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of matmuls before the window")
    ap.add_argument("--idle-seconds", type=float, default=2.0)
    ap.add_argument("--bursts", type=int, default=5)
    ap.add_argument("--burst-ms", type=float, default=100.0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        sys.exit(f"nvmlInit failed: {e}")
    torch.cuda.set_device(0)
    torch.cuda.init()
    h = nvml_handle()
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "driver": call(pynvml.nvmlSystemGetDriverVersion),
           "env": {"NCCL_NVLS_ENABLE": os.environ["NCCL_NVLS_ENABLE"]},
           "gemm": {"m": N, "k": N, "n": N, "dtype": "bf16", "op": "torch.matmul", "flops_per_call": FLOPS}}

    # 1. idle: the context is up, nothing runs.
    torch.cuda.synchronize()
    time.sleep(0.5)
    samples = []
    e0, t0 = energy_j(h), time.perf_counter()
    while time.perf_counter() - t0 < args.idle_seconds:
        mw = call(pynvml.nvmlDeviceGetPowerUsage, h)
        if mw is not None:
            samples.append(mw / 1e3)
        time.sleep(0.05)
    de, dt = diff(e0, energy_j(h)), time.perf_counter() - t0
    idle_w = sum(samples) / len(samples) if samples else None
    out["idle"] = {"seconds": dt, "power_w": idle_w, "samples": len(samples),
                   "energy_power_w": None if de is None else de / dt}

    a = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(N, N, device="cuda", dtype=torch.bfloat16)

    def matmuls(k):
        for _ in range(k):
            torch.matmul(a, b, out=c)

    # 2. burst: a short warm-up, then bursts of ~burst_ms, CUDA events around each.
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    matmuls(3)
    start.record()
    matmuls(10)
    stop.record()
    stop.synchronize()
    per_call_ms = start.elapsed_time(stop) / 10
    k = max(1, round(args.burst_ms / per_call_ms))
    bursts = []
    for _ in range(args.bursts):
        start.record()
        matmuls(k)
        stop.record()
        stop.synchronize()
        bursts.append(FLOPS * k / (start.elapsed_time(stop) / 1e3) / 1e12)
    out["burst"] = {"tflops": max(bursts), "bursts_tflops": bursts, "calls_per_burst": k}

    # 3. sustained: warm-up, then the window, chunks of ~20 ms kept queued.
    chunk = max(1, round(20.0 / per_call_ms))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.warmup:
        matmuls(chunk)
        torch.cuda.synchronize()
    torch.cuda.synchronize()
    cap0 = capped_seconds(h)
    e0 = energy_j(h)
    t0 = time.perf_counter()
    calls, prev, seen, clocks, power = 0, None, 0, [], []
    while True:
        matmuls(chunk)
        ev = torch.cuda.Event()
        ev.record()
        calls += chunk
        if prev is not None:
            prev.synchronize()
        prev = ev
        seen |= throttle_bits(h)
        sm = call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM)
        if sm is not None:
            clocks.append(sm)
        mw = call(pynvml.nvmlDeviceGetPowerUsage, h)
        if mw is not None:
            power.append(mw / 1e3)
        if time.perf_counter() - t0 >= args.seconds:
            break
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    e1 = energy_j(h)
    cap1 = capped_seconds(h)
    energy = diff(e0, e1)
    flops = FLOPS * calls
    avg_w = None if energy is None else energy / wall
    out["sustained"] = {
        "seconds": wall, "iterations": calls, "tflops": flops / wall / 1e12,
        "energy_j": energy, "avg_power_w": avg_w,
        "pj_per_flop": None if energy is None else energy / flops * 1e12,
        "pj_per_flop_above_idle": None if energy is None or idle_w is None else (energy - idle_w * wall) / flops * 1e12,
        "sampled_power_w_mean": sum(power) / len(power) if power else None,
        "sm_clock_mhz_min": min(clocks) if clocks else None,
        "sm_clock_mhz_mean": sum(clocks) / len(clocks) if clocks else None,
        "power_capped_s": diff(cap0[0], cap1[0]), "thermal_capped_s": diff(cap0[1], cap1[1]),
        "throttle_reasons_seen_hex": hex(seen), "throttle_reasons_seen": reason_names(seen),
        "burst_ratio": flops / wall / 1e12 / max(bursts)}

    bits = throttle_bits(h)
    limit = call(pynvml.nvmlDeviceGetEnforcedPowerLimit, h)
    mw = call(pynvml.nvmlDeviceGetPowerUsage, h)
    out["end"] = {"sm_clock_mhz": call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM),
                  "mem_clock_mhz": call(pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_MEM),
                  "max_sm_clock_mhz": call(pynvml.nvmlDeviceGetMaxClockInfo, h, pynvml.NVML_CLOCK_SM),
                  "temperature_c": call(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU),
                  "power_w": None if mw is None else mw / 1e3,
                  "power_limit_w": None if limit is None else limit / 1e3,
                  "throttle_reasons_hex": hex(bits), "throttle_reasons": reason_names(bits)}
    pynvml.nvmlShutdown()

    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
    s, e = out["sustained"], out["end"]
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
    print(f"{out['device']}: idle {fmt(idle_w, '.0f')} W; burst {out['burst']['tflops']:.0f} TFLOPS; "
          f"sustained {s['tflops']:.0f} TFLOPS over {s['seconds']:.1f} s ({s['iterations']} calls), "
          f"{fmt(s['avg_power_w'], '.0f')} W, {fmt(s['pj_per_flop'], '.3f')} pJ/FLOP; end: SM {e['sm_clock_mhz']} MHz, "
          f"{e['temperature_c']} C, throttle {','.join(e['throttle_reasons']) or 'none'}; "
          f"seen {','.join(s['throttle_reasons_seen']) or 'none'}")


if __name__ == "__main__":
    main()
