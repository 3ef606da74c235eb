#!/bin/bash
# One device call for the topology and energy figures: calib's CUDA calibration beside the PyTorch,
# pynvml and nccl-tests yardsticks, on the same node. Expects the carried folder $D (default build-gpu)
# with bin/calib-host, bin/test_plugin_cuda, lib/ (boost, sqlite, libcudart.so.13), cuda/calib_cuda.so
# and nccl/{all_reduce_perf,sendrecv_perf} (nccl-tests, built from its public source; none of its code is
# in this repository). Writes $OUT. PART=single: the CUDA plugin's GPU tests, a calibration of GPU 0
# alone (host links, energy, sustained GEMMs) with torch_transfers.py and torch_energy.py;
# PART=multi: the GPU tests and a calibration of every GPU (P2P, collectives) with nccl-tests (eager and
# from CUDA graphs) and torch P2P copies.
D=${D:-build-gpu}
OUT=${OUT:-/tmp/calib-out}
PART=${PART:-single}
n=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "${PART:-single}" = multi ]; then HW=${GPU_HARDWARE:-NVIDIA H200 x$n}; else HW=${GPU_HARDWARE:-NVIDIA H200}; fi
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH=$PWD/$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuBLASLt and NCCL: the system's if the loader finds them, else the PyTorch wheel's.
wheel_lib() {
  python3 -c "import nvidia,os,glob,sys; r=[f for p in nvidia.__path__ for f in glob.glob(os.path.join(p,'**','$1'),recursive=True)]; print(sorted(r)[0] if r else '')" 2>/dev/null
}
ldconfig -p | grep -q 'libcublasLt.so.13' || export CALIB_CUBLASLT_LIBRARY=$(wheel_lib libcublasLt.so.13)
if ! ldconfig -p | grep -q 'libnccl.so.2'; then
  export CALIB_NCCL_LIBRARY=$(wheel_lib libnccl.so.2)
  [ -n "$CALIB_NCCL_LIBRARY" ] && export LD_LIBRARY_PATH=$(dirname "$CALIB_NCCL_LIBRARY"):$LD_LIBRARY_PATH
fi
{
  date -u
  nvidia-smi --query-gpu=index,name,driver_version,clocks.max.sm,power.limit,memory.total --format=csv
  nvidia-smi topo -m
  python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda, torch.cuda.device_count())'
  echo "CALIB_CUBLASLT_LIBRARY=${CALIB_CUBLASLT_LIBRARY:-<loader>} CALIB_NCCL_LIBRARY=${CALIB_NCCL_LIBRARY:-<loader>}"
} > "$OUT/env.txt" 2>&1
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" >> "$OUT/env.txt"; }
if [ "$PART" = single ]; then
  timeout 120 "$D/bin/test_plugin_cuda" > "$OUT/test_plugin_cuda.txt" 2>&1; stamp "test_plugin_cuda rc=$?"
  CALIB_CUDA_DEVICES=0 timeout 280 "$D/bin/calib-host" --plugins "$D/cuda" --no-default-plugins --no-history \
    --hardware "$HW" --output "$OUT/cuda.json" -v > "$OUT/cuda.log" 2>&1; stamp "calibration (GPU 0) rc=$?"
  timeout 150 python3 bench/cuda/torch_transfers.py --output "$OUT/torch_transfers.json" > "$OUT/torch_transfers.log" 2>&1
  stamp "torch_transfers rc=$?"
  timeout 90 python3 bench/cuda/torch_energy.py --output "$OUT/torch_energy.json" > "$OUT/torch_energy.log" 2>&1
  stamp "torch_energy rc=$?"
else
  timeout 120 "$D/bin/test_plugin_cuda" > "$OUT/test_plugin_cuda.txt" 2>&1; stamp "test_plugin_cuda rc=$?"
  timeout 330 "$D/bin/calib-host" --plugins "$D/cuda" --no-default-plugins --no-history --hardware "$HW" \
    --output "$OUT/cuda_multi.json" -v > "$OUT/cuda_multi.log" 2>&1; stamp "calibration (all GPUs) rc=$?"
  timeout 90 "$D/nccl/all_reduce_perf" -b 4K -e 1G -f 4 -g "$n" -w 5 -n 20 > "$OUT/nccl_all_reduce.txt" 2>&1; stamp "all_reduce_perf rc=$?"
  # From CUDA graphs, as calib times collectives (-G 1: the 20 calls captured once and launched).
  timeout 90 "$D/nccl/all_reduce_perf" -b 4K -e 1G -f 4 -g "$n" -w 5 -n 20 -G 1 > "$OUT/nccl_all_reduce_graph.txt" 2>&1
  stamp "all_reduce_perf -G 1 rc=$?"
  timeout 90 "$D/nccl/sendrecv_perf" -b 4K -e 1G -f 4 -g "$n" -w 5 -n 20 > "$OUT/nccl_sendrecv.txt" 2>&1; stamp "sendrecv_perf rc=$?"
  timeout 150 python3 bench/cuda/torch_transfers.py --output "$OUT/torch_p2p.json" > "$OUT/torch_p2p.log" 2>&1
  stamp "torch_transfers (P2P) rc=$?"
fi
# Only a few files come back from a device call: everything also in one archive.
tar czf "/tmp/results-$PART.tgz" -C "$OUT" . && mv "/tmp/results-$PART.tgz" "$OUT/"
cat "$OUT/env.txt"; tail -3 "$OUT"/*.log 2>/dev/null | tail -20
