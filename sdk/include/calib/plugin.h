/* The calib plugin interface, ABI 1.1 (1.0 plus the members marked "ABI 1.1", all appended).
 *
 * A plugin is a shared library exporting exactly one symbol, CALIB_PLUGIN_ENTRY_SYMBOL, a function
 * returning a pointer to a const, statically allocated calib_plugin_api table.
 *
 * Lifecycle (all calls come from ONE host thread, never concurrently):
 *   entry() -> init() -> get_device() / case_count() / get_case() ...
 *           -> prepare(case) -> get_instance_info() -> run() x many -> release()   (per case; the
 *              host may hold several instances at once, e.g. a fused and an unfused variant that it
 *              times alternately)
 *           -> shutdown()
 *   ABI 1.1: a plugin may measure several devices (device_count(), get_device_at()); a case names the
 *   devices it uses (calib_case_info.devices); read_device_state() may be called between any two calls.
 *
 * Timing contract: run() executes the case `iterations` times back to back and reports the elapsed
 * seconds measured with the plugin's own clock (steady CPU clock, or device events for a GPU). Only the
 * executions are inside the timed region: allocation, initialisation, reorders and verification
 * belong in prepare(). The host owns warm-up, iteration counts, stopping and statistics.
 *
 * Errors: fallible functions return a calib_status and may write a reason into the caller-owned
 * `err` buffer. No exception, longjmp or C++ type ever crosses this boundary. */
#ifndef CALIB_PLUGIN_H
#define CALIB_PLUGIN_H

#include "calib/abi.h"
#include "calib/host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CALIB_PLUGIN_ENTRY_SYMBOL "calib_plugin_entry"

typedef int32_t calib_device_kind;
#define CALIB_DEVICE_CPU 0
#define CALIB_DEVICE_GPU 1
#define CALIB_DEVICE_OTHER 2

typedef int32_t calib_case_family;
#define CALIB_FAMILY_COMPUTE 0
#define CALIB_FAMILY_MEMORY 1
#define CALIB_FAMILY_FUSION 2
/* ABI 1.1: data moved between devices, or between the host and a device. operation_type is one of
 * "copy_h2d", "copy_d2h" (devices = {the device}), "copy_p2p" (devices = {source, destination}),
 * "all_reduce", "all_gather", "reduce_scatter", "broadcast" (devices = the group, >= 1).
 * bytes = the message size as nccl-tests defines it (a copy: the bytes copied; all_gather: the gathered
 * output; reduce_scatter: the input; the others: the buffer), and shape = {bytes}. Param "memory" says
 * "pinned" or "pageable" for host copies; "link" ("nvlink", "pcie", ...) and "peer_access" ("1"/"0")
 * describe a P2P path. A host of ABI 1.0 never sees these cases (see calib_host_services.abi_minor). */
#define CALIB_FAMILY_TRANSFER 3

/* For fusion cases: which side of the comparison this case is. */
typedef int32_t calib_fusion_role;
#define CALIB_ROLE_NONE 0
#define CALIB_ROLE_FUSED 1
#define CALIB_ROLE_UNFUSED 2

/* Case flags (bit set). */
#define CALIB_CASE_QUICK 0x1u     /* part of the --quick selection */
#define CALIB_CASE_SUSTAINED 0x2u /* ABI 1.1: also measure over a sustained window (a headline case) */

#define CALIB_MAX_RANK 8

/* A free-form parameter of a case, stored in the profile record's extra_params. `value` is text; the
 * host stores it as a JSON number when the whole text parses as one. */
typedef struct calib_param {
    const char* key;
    const char* value;
} calib_param;

/* Filled by the plugin in get_device(). Strings are owned by the plugin and live until shutdown(). */
typedef struct calib_device_info {
    uint32_t struct_size;
    calib_device_kind kind;
    const char* name;               /* e.g. "NVIDIA H100 80GB HBM3"; never NULL */
    int32_t available;              /* 0: the plugin loads but cannot measure here */
    const char* unavailable_reason; /* when available == 0; else NULL or "" */
    /* ABI 1.1 */
    const char* bus_id;             /* e.g. PCI "0000:3B:00.0"; NULL or "" when it has none */
} calib_device_info;

/* Filled by the plugin in get_case(). Strings and arrays are owned by the plugin and live until
 * shutdown(); the same index yields the same case for the whole session. */
typedef struct calib_case_info {
    uint32_t struct_size;
    uint32_t flags;                 /* CALIB_CASE_* */
    const char* name;               /* unique within the plugin, stable, e.g. "matmul_f32_1024" */
    calib_case_family family;
    const char* operation_type;     /* origin vocabulary: "matmul", "linear", "conv2d", "add", ... */
    const char* precision;          /* "fp32", "bf16", "fp16", "int8", ... */
    uint32_t rank;                  /* entries used in shape[] */
    int64_t shape[CALIB_MAX_RANK];  /* problem shape, e.g. {M, K, N} */
    double flops;                   /* floating/integer ops per execution (0 for pure memory) */
    double bytes;                   /* bytes moved per execution, by the convention the plugin states */
    const char* fusion_pattern;     /* fusion cases: e.g. "Linear_Bias_ReLU"; else NULL */
    calib_fusion_role fusion_role;  /* fusion cases: FUSED or UNFUSED */
    const char* fusion_group;       /* fused and unfused variants of one comparison share it */
    uint32_t param_count;
    const calib_param* params;      /* param_count entries (origin key params such as matrix_size) */
    /* ABI 1.1 */
    uint32_t device_count;          /* entries in devices[]; 0 means device 0 alone (every 1.0 case) */
    const uint32_t* devices;        /* indices below device_count() of the devices this case uses, distinct */
} calib_case_info;

/* Filled by the plugin in get_instance_info() after a successful prepare(). Strings are owned by
 * the instance and live until release(). */
typedef struct calib_instance_info {
    uint32_t struct_size;
    const char* implementation;     /* kernel that really runs, e.g. oneDNN's impl_info_str(); never NULL */
    int32_t reference_fallback;     /* non-zero when any kernel is a slow reference implementation */
    int32_t verified;               /* non-zero when the result was checked against a reference */
    double max_abs_error;           /* of that check (0 when not verified) */
    double tolerance;               /* the tolerance it was checked against */
    uint32_t param_count;           /* extra facts for extra_params (e.g. per-primitive impls) */
    const calib_param* params;
} calib_instance_info;

/* An optional theoretical peak the plugin knows better than the host (e.g. from a GPU's attributes). */
typedef struct calib_peak_info {
    uint32_t struct_size;
    const char* precision;          /* "fp32", ... or "memory" for bandwidth */
    double gflops;                  /* compute peak, or 0 */
    double bandwidth_gbps;          /* memory peak, or 0 */
    const char* formula;            /* how it was obtained, for the profile's peak source */
} calib_peak_info;

/* ABI 1.1: conditions of one device read now (read_device_state). `valid` says which fields hold a
 * reading; the others are 0. */
#define CALIB_STATE_ENERGY 0x1u       /* energy_joules */
#define CALIB_STATE_POWER 0x2u        /* power_watts */
#define CALIB_STATE_POWER_LIMIT 0x4u  /* power_limit_watts */
#define CALIB_STATE_CLOCKS 0x8u       /* sm_clock_mhz, memory_clock_mhz */
#define CALIB_STATE_TEMPERATURE 0x10u /* temperature_c */
#define CALIB_STATE_THROTTLE 0x20u    /* throttle */
#define CALIB_STATE_THROTTLE_TIME 0x40u /* power_capped_seconds, thermal_capped_seconds */

/* Why the device runs below its maximum clock now (bit set); 0 when it does not. */
#define CALIB_THROTTLE_POWER_CAP 0x1u   /* software power cap */
#define CALIB_THROTTLE_THERMAL 0x2u     /* software or hardware thermal slowdown */
#define CALIB_THROTTLE_HW_SLOWDOWN 0x4u /* hardware slowdown (power brake, external signal) */
#define CALIB_THROTTLE_CLOCK_LIMIT 0x8u /* application or user clock setting */
#define CALIB_THROTTLE_OTHER 0x10u      /* anything else the driver reports, idle excluded */

typedef struct calib_device_state {
    uint32_t struct_size;
    uint32_t valid;                 /* CALIB_STATE_* */
    double energy_joules;           /* monotonic energy counter since an arbitrary origin */
    double power_watts;             /* power draw now */
    double power_limit_watts;       /* enforced power limit */
    double sm_clock_mhz;            /* compute clock now */
    double memory_clock_mhz;
    double temperature_c;
    uint32_t throttle;              /* CALIB_THROTTLE_* */
    /* Monotonic counters (arbitrary origin) of the time the device spent held below its clock by the
     * power cap and by thermal limits: their difference over a measurement says whether it throttled
     * at any moment in between, not only at the ends. */
    double power_capped_seconds;
    double thermal_capped_seconds;
} calib_device_state;

typedef struct calib_plugin_api {
    uint32_t struct_size;           /* CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state) in ABI 1.1
                                     * (get_peaks in 1.0) */
    uint16_t abi_major;             /* CALIB_ABI_VERSION_MAJOR the plugin was built with */
    uint16_t abi_minor;

    /* Static metadata, never NULL. id is reverse-DNS ("org.calib.matmul"). */
    const char* id;
    const char* name;
    const char* version;
    const char* vendor;
    const char* description;

    /* Create the plugin context. `host` lives until shutdown(). Must not time anything. */
    calib_status (*init)(const calib_host_services* host, void** ctx, calib_message err);
    /* Destroy the context; every instance has been released before. */
    void (*shutdown)(void* ctx);

    /* Device this plugin measures. Host sets out->struct_size. */
    calib_status (*get_device)(void* ctx, calib_device_info* out);

    /* Cases, index 0 .. case_count()-1. Host sets out->struct_size. */
    uint32_t (*case_count)(void* ctx);
    calib_status (*get_case)(void* ctx, uint32_t index, calib_case_info* out, calib_message err);

    /* Allocate, initialise and verify one case. CALIB_UNSUPPORTED when this case cannot run natively
     * here (message gives the reason); CALIB_VERIFICATION_FAILED when the kernel's result is wrong. */
    calib_status (*prepare)(void* ctx, uint32_t index, void** instance, calib_message err);
    calib_status (*get_instance_info)(void* ctx, void* instance, calib_instance_info* out);
    /* Execute `iterations` (>= 1) times back to back; store elapsed seconds in *seconds. */
    calib_status (*run)(void* ctx, void* instance, uint64_t iterations, double* seconds,
                        calib_message err);
    void (*release)(void* ctx, void* instance);

    /* Optional (may be NULL): peaks the plugin knows for its device. Writes up to `capacity`
     * entries (host sets each struct_size) and the total number available into *count. */
    calib_status (*get_peaks)(void* ctx, calib_peak_info* out, uint32_t capacity, uint32_t* count);

    /* ---- ABI 1.1; each may be NULL ---- */
    /* Devices this plugin measures (1 .. 64); NULL means one. Device 0 is the one get_device() describes,
     * and every case without a device list runs on it. device_count and get_device_at are both NULL or
     * both set. */
    uint32_t (*device_count)(void* ctx);
    /* Device `device` (below device_count()); host sets out->struct_size. */
    calib_status (*get_device_at)(void* ctx, uint32_t device, calib_device_info* out);
    /* Conditions of `device` now: energy counter, power, clocks, temperature, throttling. Cheap (the host
     * calls it around measurements), never times anything, CALIB_UNSUPPORTED when nothing can be read.
     * Host sets out->struct_size. */
    calib_status (*read_device_state)(void* ctx, uint32_t device, calib_device_state* out);
} calib_plugin_api;

typedef const calib_plugin_api* (*calib_plugin_entry_fn)(void);

/* Declare the entry in a plugin source file:  CALIB_PLUGIN_ENTRY { return &my_table; } */
#define CALIB_PLUGIN_ENTRY \
    CALIB_EXTERN_C CALIB_EXPORT const calib_plugin_api* calib_plugin_entry(void)

#ifdef __cplusplus
}
#endif

#endif /* CALIB_PLUGIN_H */
