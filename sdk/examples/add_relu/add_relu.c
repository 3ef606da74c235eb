/* add_relu: a complete calib plugin in plain C11 -- the template to copy for a first plugin.
 *
 * It measures one element-wise fusion pattern, "Add_ReLU" (out = max(a + b, 0)), on the CPU:
 *   fused   one loop:  out[i] = max(a[i] + b[i], 0)
 *   unfused two loops: tmp[i] = a[i] + b[i];  out[i] = max(tmp[i], 0)
 * at three sizes. The host times the fused and unfused cases of one size alternately and writes the
 * speedup (unfused time / fused time) into the profile's fusion_profiles.
 *
 * What the ABI asks of every plugin (calib/plugin.h has the full contract):
 *  - export exactly one symbol, calib_plugin_entry, returning a static table (calib_add_plugin in
 *    CMake hides everything else);
 *  - never let a crash, exit or exception escape: return a calib_status and a message instead;
 *  - fill a host-allocated struct only up to the struct_size the host set;
 *  - keep allocation, initialisation and verification in prepare(); run() times only the kernel. */
#define _POSIX_C_SOURCE 200112L /* clock_gettime under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib/plugin.h"

/* ---- the cases ------------------------------------------------------------------------------ */

#define AR_SIZES 3
#define AR_CASES (2 * AR_SIZES) /* a fused and an unfused case per size */
#define AR_NAME_LEN 64

static const int64_t ar_sizes[AR_SIZES] = {1 << 20, 1 << 22, 1 << 24}; /* 1M, 4M, 16M floats */

/* Everything get_case() hands out; built once in init() and owned by the context, because the
 * strings and arrays must stay valid until shutdown(). */
typedef struct ar_case {
    char name[AR_NAME_LEN];  /* "Add_ReLU_fp32_1048576_fused" */
    char group[AR_NAME_LEN]; /* "Add_ReLU_fp32_1048576", shared by the fused/unfused pair */
    char count_text[24];     /* the element count as text, for the params */
    int64_t n;               /* elements per tensor */
    int fused;
    calib_param params[3];
} ar_case;

typedef struct ar_context {
    const calib_host_services* host;
    ar_case cases[AR_CASES];
} ar_context;

/* One prepared case: its buffers. tmp is NULL for the fused variant, which needs none. */
typedef struct ar_instance {
    const ar_case* spec;
    float* a;
    float* b;
    float* tmp;
    float* out;
} ar_instance;

/* ---- helpers -------------------------------------------------------------------------------- */

/* Copy `text` into the host's message buffer; truncates, always NUL-terminates, ignores a NULL or
 * empty buffer (the ABI allows both). */
static void ar_message(calib_message err, const char* text) {
    if (err.data == NULL || err.capacity == 0) return;
    size_t n = strlen(text);
    if (n >= err.capacity) n = err.capacity - 1;
    memcpy(err.data, text, n);
    err.data[n] = '\0';
}

/* Seconds from a monotonic clock: immune to wall-clock changes during a run. */
static double ar_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 64-byte aligned buffer of n floats (cache-line aligned loads vectorise cleanly); NULL on failure. */
static float* ar_alloc(int64_t n) {
    size_t bytes = ((size_t)n * sizeof(float) + 63u) & ~(size_t)63u; /* aligned_alloc wants a multiple */
    return aligned_alloc(64, bytes);
}

/* The kernels. `restrict` promises the compiler that buffers do not overlap, so both vectorise. */
static void ar_fused(const float* restrict a, const float* restrict b, float* restrict out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        float s = a[i] + b[i];
        out[i] = s > 0.0f ? s : 0.0f;
    }
}

static void ar_unfused(const float* restrict a, const float* restrict b, float* restrict tmp,
                       float* restrict out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) tmp[i] = a[i] + b[i];
    for (int64_t i = 0; i < n; ++i) out[i] = tmp[i] > 0.0f ? tmp[i] : 0.0f;
}

static void ar_execute(const ar_instance* in) {
    if (in->spec->fused)
        ar_fused(in->a, in->b, in->out, in->spec->n);
    else
        ar_unfused(in->a, in->b, in->tmp, in->out, in->spec->n);
}

static void ar_free_instance(ar_instance* in) {
    if (in == NULL) return;
    free(in->a);
    free(in->b);
    free(in->tmp);
    free(in->out);
    free(in);
}

/* ---- the ABI functions ---------------------------------------------------------------------- */

/* init: build the case list once; nothing is timed or allocated per case here. `host` stays valid
 * until shutdown(). Returns CALIB_OUT_OF_MEMORY when the context cannot be allocated. */
static calib_status ar_init(const calib_host_services* host, void** ctx, calib_message err) {
    if (ctx == NULL) {
        ar_message(err, "ctx is NULL");
        return CALIB_INVALID_ARGUMENT;
    }
    ar_context* c = calloc(1, sizeof *c);
    if (c == NULL) {
        ar_message(err, "out of memory for the plugin context");
        return CALIB_OUT_OF_MEMORY;
    }
    c->host = host;
    for (int i = 0; i < AR_CASES; ++i) {
        ar_case* k = &c->cases[i];
        k->n = ar_sizes[i / 2];
        k->fused = i % 2 == 0;
        snprintf(k->group, sizeof k->group, "Add_ReLU_fp32_%lld", (long long)k->n);
        snprintf(k->name, sizeof k->name, "%s_%s", k->group, k->fused ? "fused" : "unfused");
        snprintf(k->count_text, sizeof k->count_text, "%lld", (long long)k->n);
        k->params[0] = (calib_param){"num_elements", k->count_text};
        k->params[1] = (calib_param){"operators", "add,relu"};
        k->params[2] = (calib_param){"num_operators", "2"};
    }
    if (host != NULL) host->log(host->host_ctx, CALIB_LOG_DEBUG, "add_relu: ready");
    *ctx = c;
    return CALIB_OK;
}

/* shutdown: free the context; the host has released every instance before. */
static void ar_shutdown(void* ctx) { free(ctx); }

/* get_device: the CPU, always available. Writes only fields inside out->struct_size (the host sets it;
 * a host older than a field we would add later simply does not get it). */
static calib_status ar_get_device(void* ctx, calib_device_info* out) {
    (void)ctx;
    if (out == NULL || !CALIB_HAS_FIELD(calib_device_info, unavailable_reason, out->struct_size))
        return CALIB_INVALID_ARGUMENT;
    out->kind = CALIB_DEVICE_CPU;
    out->name = "cpu";
    out->available = 1;
    out->unavailable_reason = NULL;
    return CALIB_OK;
}

/* case_count: fixed for the whole session. */
static uint32_t ar_case_count(void* ctx) {
    (void)ctx;
    return AR_CASES;
}

/* get_case: describe case `index`; the same index always gives the same case. Out of range (or a
 * struct too small for ABI 1.0) is CALIB_INVALID_ARGUMENT, never a crash. */
static calib_status ar_get_case(void* ctx, uint32_t index, calib_case_info* out, calib_message err) {
    const ar_context* c = ctx;
    if (index >= AR_CASES) {
        ar_message(err, "case index out of range");
        return CALIB_INVALID_ARGUMENT;
    }
    if (out == NULL || !CALIB_HAS_FIELD(calib_case_info, params, out->struct_size)) {
        ar_message(err, "calib_case_info missing or too small");
        return CALIB_INVALID_ARGUMENT;
    }
    const ar_case* k = &c->cases[index];
    const double n = (double)k->n;
    const double f = (double)sizeof(float);
    out->flags = k->n == ar_sizes[0] ? CALIB_CASE_QUICK : 0u; /* --quick: the smallest pair */
    out->name = k->name;
    out->family = CALIB_FAMILY_FUSION;
    out->operation_type = "add";
    out->precision = "fp32";
    out->rank = 1;
    memset(out->shape, 0, sizeof out->shape);
    out->shape[0] = k->n;
    out->flops = 2.0 * n; /* one add and one max per element, either way */
    /* Bytes that must move: fused reads a, b and writes out; unfused also writes tmp and reads it back. */
    out->bytes = k->fused ? 3.0 * n * f : 5.0 * n * f;
    out->fusion_pattern = "Add_ReLU";
    out->fusion_role = k->fused ? CALIB_ROLE_FUSED : CALIB_ROLE_UNFUSED;
    out->fusion_group = k->group;
    out->param_count = 3;
    out->params = k->params;
    return CALIB_OK;
}

/* prepare: allocate and initialise the buffers (non-zero, both signs, so ReLU really clips), run the
 * kernel once and check it against the other variant computed here as the reference. Returns
 * CALIB_OUT_OF_MEMORY, CALIB_CANCELLED (host asked to stop) or CALIB_VERIFICATION_FAILED with a message. */
static calib_status ar_prepare(void* ctx, uint32_t index, void** instance, calib_message err) {
    const ar_context* c = ctx;
    if (index >= AR_CASES || instance == NULL) {
        ar_message(err, "case index out of range");
        return CALIB_INVALID_ARGUMENT;
    }
    const ar_case* k = &c->cases[index];
    ar_instance* in = calloc(1, sizeof *in);
    if (in == NULL) {
        ar_message(err, "out of memory");
        return CALIB_OUT_OF_MEMORY;
    }
    in->spec = k;
    in->a = ar_alloc(k->n);
    in->b = ar_alloc(k->n);
    in->out = ar_alloc(k->n);
    /* tmp serves the unfused kernel, and the fused case's reference computation in prepare. */
    in->tmp = ar_alloc(k->n);
    if (in->a == NULL || in->b == NULL || in->out == NULL || in->tmp == NULL) {
        ar_free_instance(in);
        ar_message(err, "out of memory for the buffers");
        return CALIB_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < k->n; ++i) {
        in->a[i] = (float)(i % 17) * 0.25f - 2.0f + 0.125f; /* never exactly zero */
        in->b[i] = (float)(i % 13) * 0.5f - 3.0f + 0.0625f;
    }
    if (c->host != NULL && c->host->is_cancelled(c->host->host_ctx)) {
        ar_free_instance(in);
        ar_message(err, "cancelled");
        return CALIB_CANCELLED;
    }

    /* Verify fused == unfused: run the case's kernel into out, the other variant into ref. */
    float* ref = ar_alloc(k->n);
    if (ref == NULL) {
        ar_free_instance(in);
        ar_message(err, "out of memory for the reference");
        return CALIB_OUT_OF_MEMORY;
    }
    ar_execute(in);
    if (k->fused)
        ar_unfused(in->a, in->b, in->tmp, ref, k->n);
    else
        ar_fused(in->a, in->b, ref, k->n);
    int64_t bad = -1;
    for (int64_t i = 0; i < k->n && bad < 0; ++i)
        if (in->out[i] != ref[i]) bad = i; /* same operations in the same order: bit-exact */
    free(ref);
    if (bad >= 0) {
        char text[128];
        snprintf(text, sizeof text, "fused and unfused differ at element %lld", (long long)bad);
        ar_free_instance(in);
        ar_message(err, text);
        return CALIB_VERIFICATION_FAILED;
    }
    if (k->fused) { /* the fused kernel never touches tmp */
        free(in->tmp);
        in->tmp = NULL;
    }
    *instance = in;
    return CALIB_OK;
}

/* get_instance_info: what really runs and how it was checked; strings live as long as the instance. */
static calib_status ar_get_instance_info(void* ctx, void* instance, calib_instance_info* out) {
    (void)ctx;
    const ar_instance* in = instance;
    if (in == NULL || out == NULL || !CALIB_HAS_FIELD(calib_instance_info, params, out->struct_size))
        return CALIB_INVALID_ARGUMENT;
    out->implementation = in->spec->fused ? "c:add_relu_one_loop" : "c:add_then_relu_two_loops";
    out->reference_fallback = 0;
    out->verified = 1;
    out->max_abs_error = 0.0; /* checked bit-exact */
    out->tolerance = 0.0;
    out->param_count = 0;
    out->params = NULL;
    return CALIB_OK;
}

/* run: execute the case `iterations` (>= 1) times back to back and report the elapsed seconds; only
 * the kernel is inside the timed region. Zero iterations is the caller's error. */
static calib_status ar_run(void* ctx, void* instance, uint64_t iterations, double* seconds, calib_message err) {
    (void)ctx;
    const ar_instance* in = instance;
    if (in == NULL || seconds == NULL || iterations == 0) {
        ar_message(err, "run: NULL instance or seconds, or zero iterations");
        return CALIB_INVALID_ARGUMENT;
    }
    const double t0 = ar_now();
    for (uint64_t i = 0; i < iterations; ++i) ar_execute(in);
    *seconds = ar_now() - t0;
    return CALIB_OK;
}

/* release: free one instance; called once per successful prepare(). */
static void ar_release(void* ctx, void* instance) {
    (void)ctx;
    ar_free_instance(instance);
}

/* ---- the table and the one exported symbol -------------------------------------------------- */

static const calib_plugin_api ar_api = {
    .struct_size = CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state), /* the ABI 1.1 table */
    .abi_major = CALIB_ABI_VERSION_MAJOR,
    .abi_minor = CALIB_ABI_VERSION_MINOR,
    .id = "org.example.add_relu", /* reverse-DNS of your organisation: unique among plugins */
    .name = "add_relu",
    .version = "1.0.0",
    .vendor = "Example Corp",
    .description = "Add+ReLU element-wise fusion in plain C (the calib SDK example)",
    .init = ar_init,
    .shutdown = ar_shutdown,
    .get_device = ar_get_device,
    .case_count = ar_case_count,
    .get_case = ar_get_case,
    .prepare = ar_prepare,
    .get_instance_info = ar_get_instance_info,
    .run = ar_run,
    .release = ar_release,
    .get_peaks = NULL, /* optional: this plugin knows no better peak than the host */
    /* ABI 1.1, optional: one device (device_count, get_device_at NULL), no state readings. */
    .device_count = NULL,
    .get_device_at = NULL,
    .read_device_state = NULL,
};

CALIB_PLUGIN_ENTRY { return &ar_api; }
