/* Services the host hands to a plugin at init. Plugins never link against the host.
 *
 * Ownership: the table and host_ctx stay valid from init() until shutdown() returns.
 * Threading: every function may be called from any thread the plugin uses. */
#ifndef CALIB_HOST_H
#define CALIB_HOST_H

#include "calib/abi.h"

typedef int32_t calib_log_level;
#define CALIB_LOG_DEBUG 0
#define CALIB_LOG_INFO 1
#define CALIB_LOG_WARNING 2
#define CALIB_LOG_ERROR 3

typedef struct calib_host_services {
    uint32_t struct_size; /* CALIB_STRUCT_SIZE(calib_host_services, abi_minor) in ABI 1.1 (is_cancelled in 1.0) */
    uint32_t reserved;    /* zero */
    void* host_ctx;       /* opaque; pass back to every function below */

    /* Log one line. `message` is copied before the call returns. Never NULL. */
    void (*log)(void* host_ctx, calib_log_level level, const char* message);

    /* Non-zero once the host wants the run to stop. Long set-up work (allocation, verification)
     * should poll it and return CALIB_CANCELLED. Never NULL. */
    int32_t (*is_cancelled)(void* host_ctx);

    /* ABI 1.1: the host's CALIB_ABI_VERSION_MINOR. A 1.0 host's struct ends before it, so a plugin reads
     * it only when CALIB_HAS_FIELD(calib_host_services, abi_minor, struct_size); absent means 0. A plugin
     * shows a host only what that minor knows: no CALIB_FAMILY_TRANSFER case and no case on a device
     * other than 0 for a 1.0 host (the C++ helper hides them). */
    uint32_t abi_minor;
} calib_host_services;

#endif /* CALIB_HOST_H */
