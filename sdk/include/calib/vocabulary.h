/* calib plugin SDK: the names the host interprets. A case's operation_type, precision and params are
 * free text in the ABI (plugin.h); this header states which values the host gives a meaning to and
 * what that meaning is. The host builds its own tables from these lists (precision checks, the
 * operation types it keeps, the memory sweep), so what is published here is what the host does.
 *
 * Each list is an X-macro: define X(...) and expand the list to get a table, e.g.
 *     #define NAME(s, origin) s,
 *     static const char* const precisions[] = {CALIB_PRECISIONS(NAME)};
 *     #undef NAME
 * Self-contained, C11 and C++. Nothing here changes the binary interface. */
#ifndef CALIB_VOCABULARY_H
#define CALIB_VOCABULARY_H

/* ---- precisions -------------------------------------------------------------------------------
 * X(name, origin): `origin` is 1 when the origin profile format knows the name. Only those appear in
 * the profile's precision_matrix; every name appears in calib's precision_support. A case's
 * `precision` is its storage precision; the "math" param (below) names the arithmetic when it
 * differs (tf32: fp32 storage, tf32 math). */
#define CALIB_PRECISIONS(X) \
    X("fp64", 1)            \
    X("fp32", 1)            \
    X("tf32", 0)            \
    X("fp16", 1)            \
    X("bf16", 1)            \
    X("fp8", 1)             \
    X("fp8_e4m3", 1)        \
    X("fp8_e5m2", 1)        \
    X("fp4", 1)             \
    X("int32", 1)           \
    X("int16", 1)           \
    X("int8", 1)            \
    X("int4", 1)

/* The precision a case is measured in when it names none of its own, and the one the origin's
 * single-device fields (theoretical_peak_gflops) and speedup_vs_fp32 refer to. */
#define CALIB_PRECISION_REFERENCE "fp32"

/* ---- operation types --------------------------------------------------------------------------
 * X(name): the origin's operation types. A compute case of another type is recorded with
 * operation_type "unknown" and its own type in extra_params.operation. A memory-family case of another
 * type is a memory sweep point (below), not an operation record. */
#define CALIB_OPERATION_TYPES(X) \
    X("matmul")                  \
    X("conv2d")                  \
    X("conv1d")                  \
    X("depthwise_conv")          \
    X("transpose_conv")          \
    X("relu")                    \
    X("gelu")                    \
    X("sigmoid")                 \
    X("add")                     \
    X("mul")                     \
    X("softmax")                 \
    X("layernorm")               \
    X("batchnorm")               \
    X("maxpool")                 \
    X("avgpool")                 \
    X("adaptive_pool")           \
    X("attention")               \
    X("flash_attention")         \
    X("embedding")               \
    X("linear")                  \
    X("unknown")

#define CALIB_OPERATION_UNKNOWN "unknown"
#define CALIB_OPERATION_MATMUL "matmul"

/* ---- well-known case params -------------------------------------------------------------------
 * Every param lands in the record's extra_params (numbers as JSON numbers). These keys also mean
 * something to the host: */

/* "math": the arithmetic precision when it differs from the storage precision (e.g. "tf32" on an
 * fp32 matmul). The case is judged against that precision's peak, counted under it in the precision
 * matrix and precision_support, and becomes part of the record's key. */
#define CALIB_PARAM_MATH "math"

/* "precision": reserved. The host writes the case's precision into extra_params.precision (over a
 * param of that name) and, when it is not fp32, adds "precision=<p>" to the operation record's key. */
#define CALIB_PARAM_PRECISION "precision"

/* "operation": reserved for compute cases outside the origin's operation types: the host writes the
 * case's own operation_type there (its record says "unknown"). */
#define CALIB_PARAM_OPERATION "operation"

/* "operators" (on the unfused case of a fusion pair): the comma-separated operators the fused kernel
 * replaces, e.g. "matmul,add,relu". It becomes the fusion record's operators and num_operators and is
 * not repeated in extra_params; neither is "num_operators". */
#define CALIB_PARAM_OPERATORS "operators"
#define CALIB_PARAM_NUM_OPERATORS "num_operators"

/* A memory sweep point: a case of family memory whose operation_type is not an origin type (e.g.
 * "stream_triad"), with both params below. Sweep points are listed in calib's memory_sweep; the
 * best GB/s per kernel within each cache level's plateau fills memory_hierarchy.levels, and the DRAM
 * level gives measured_bandwidth_gbps. A memory case of an origin type (e.g. "add") is an ordinary
 * operation record instead.
 *   "kernel": one of CALIB_SWEEP_KERNELS;
 *   "working_set_bytes": bytes of all arrays of the kernel together (decides the level). */
#define CALIB_PARAM_KERNEL "kernel"
#define CALIB_PARAM_WORKING_SET_BYTES "working_set_bytes"
/* Optional on sweep points of a device that is not the host CPU: "last_cache_bytes" is the size of the
 * device's last cache level (e.g. a GPU's L2), and "device_memory" names the memory behind it ("HBM",
 * "GDDR"; default "device memory"). The host then files a point under that cache when its working set
 * is below 0.75 x last_cache_bytes, and under the device memory when at least 4 x; without it, the host
 * CPU's caches decide and the memory is "DRAM". */
#define CALIB_PARAM_LAST_CACHE_BYTES "last_cache_bytes"
#define CALIB_PARAM_DEVICE_MEMORY "device_memory"
#define CALIB_SWEEP_KERNELS(X) \
    X("copy")                  \
    X("scale")                 \
    X("add")                   \
    X("triad")

/* ---- well-known instance params (calib_instance_info.params) ----------------------------------
 * "library": the library and version the kernel comes from, e.g. "oneDNN 2.6.3", "cuBLASLt 13.0.0".
 * Its first word, lower-cased and reduced to letters, is the profile's metadata.framework. */
#define CALIB_PARAM_LIBRARY "library"

/* ---- operation record keys --------------------------------------------------------------------
 * operation_profiles keys: operation_type, then "_<name>=<value>" for every case param sorted by name
 * (with "precision" added when not fp32), then for matmul and conv2d the size class of the input
 * shape. Keep params that vary between cases of one type short and stable: they are the key. */

#endif /* CALIB_VOCABULARY_H */
