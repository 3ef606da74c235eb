#!/bin/bash
# One device call: CUDA calibration, the PyTorch yardstick and a CPU calibration, all on the same
# machine. Expects the carried folder $1 (default build-cudacarry) with bin/calib-host, lib/ (the
# shared libraries the device may lack), plugins/ (CPU plugins) and cuda/calib_cuda.so; writes $OUT.
# SKIP_CPU=1 leaves out the CPU calibration, SKIP_TORCH=1 the PyTorch yardstick; GPU_HARDWARE and
# CPU_HARDWARE name the two profiles.
D=${1:-build-cudacarry}
OUT=${OUT:-/tmp/calib-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
  lscpu | grep -E 'Model name|^CPU\(s\)|Core|Socket'
  python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda, torch.cuda.is_available())'
} > "$OUT/env.txt" 2>&1
# cuBLASLt: the system's if the loader finds it, else the toolkit's or the PyTorch wheel's.
if ! ldconfig -p | grep -q 'libcublasLt.so.13'; then
  lt=$(ls /usr/local/cuda*/lib64/libcublasLt.so.13 /usr/local/cuda*/targets/*/lib/libcublasLt.so.13 2>/dev/null | head -1)
  [ -z "$lt" ] && lt=$(python3 -c 'import nvidia,os,glob; print(next(iter(sorted(glob.glob(os.path.join(p,"**","libcublasLt.so.13"),recursive=True) for p in nvidia.__path__)))[0])' 2>/dev/null)
  export CALIB_CUBLASLT_LIBRARY=$lt
fi
echo "CALIB_CUBLASLT_LIBRARY=${CALIB_CUBLASLT_LIBRARY:-<loader path>}" >> "$OUT/env.txt"
timeout 220 "$D/bin/calib-host" --plugins "$D/cuda" --no-default-plugins --hardware "${GPU_HARDWARE:-NVIDIA H100 SXM}" \
  --output "$OUT/cuda.json" -v > "$OUT/cuda.log" 2>&1
echo "cuda calibration rc=$?" >> "$OUT/env.txt"
[ -n "$SKIP_TORCH" ] || PYTHONUNBUFFERED=1 timeout 300 python3 bench/cuda/torch_compare.py --output "$OUT/torch.json" >> "$OUT/env.txt" 2>&1
echo "torch compare rc=$?" >> "$OUT/env.txt"
# The headline matmul again, calib and PyTorch alternating three times (GPU clocks drift with power and
# temperature over a session; compare.py takes each side's best turn).
for turn in $([ -n "$SKIP_TORCH" ] || echo 1 2 3); do
  timeout 60 "$D/bin/calib-host" --plugins "$D/cuda" --no-default-plugins --filter '^matmul_bf16_8192$' \
    --quiet --output "$OUT/alt_calib_$turn.json" >> "$OUT/env.txt" 2>&1
  timeout 60 python3 bench/cuda/torch_compare.py --only-matmul matmul_bf16_8192 --output "$OUT/alt_torch_$turn.json" >> "$OUT/env.txt" 2>&1
done
[ -n "$SKIP_CPU" ] || timeout 200 "$D/bin/calib-host" --plugins "$D/plugins" --no-default-plugins --hardware "${CPU_HARDWARE:-Intel Xeon (Sapphire Rapids) host of the H100}" --output "$OUT/cpu.json" > "$OUT/cpu.log" 2>&1
echo "cpu calibration rc=$?" >> "$OUT/env.txt"
cat "$OUT/env.txt"; tail -5 "$OUT/cuda.log"; tail -3 "$OUT/cpu.log"
