/* calib plugin ABI: versioning, status codes, struct-size rules.
 *
 * Versioning (see docs/abi.md and sdk/CHANGELOG.md):
 *  - CALIB_ABI_VERSION_MAJOR changes only when an existing field, function or meaning changes or is
 *    removed. The host refuses a plugin whose major differs from its own.
 *  - CALIB_ABI_VERSION_MINOR changes when fields are APPENDED to a struct or functions appended to
 *    the plugin table. Any minor works with any other minor of the same major: both sides consult
 *    `struct_size` before touching a field that a later minor added.
 *
 * struct_size rule: every struct that can grow opens with `uint32_t struct_size`. The party that
 * allocates a struct sets struct_size to the size it knows (CALIB_STRUCT_SIZE of its last field).
 * The party that fills or reads a struct touches only fields that lie entirely within struct_size.
 *
 * All strings are UTF-8 and NUL-terminated. Fixed-size integer types only. */
#ifndef CALIB_ABI_H
#define CALIB_ABI_H

#include <stddef.h>
#include <stdint.h>

#define CALIB_ABI_VERSION_MAJOR 1
#define CALIB_ABI_VERSION_MINOR 1

/* Size of `type` up to and including `last_field`: what struct_size must say for a struct whose
 * last known field is `last_field`. */
#define CALIB_STRUCT_SIZE(type, last_field) \
    (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* True when a struct of declared size `size` contains `field` of `type` entirely. */
#define CALIB_HAS_FIELD(type, field, size) (CALIB_STRUCT_SIZE(type, field) <= (size_t)(size))

#if defined(_WIN32)
#define CALIB_EXPORT __declspec(dllexport)
#else
#define CALIB_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
#define CALIB_EXTERN_C extern "C"
#else
#define CALIB_EXTERN_C
#endif

/* Status codes returned by every fallible plugin function. Values never change meaning. */
typedef int32_t calib_status;
#define CALIB_OK 0
#define CALIB_ERROR 1                 /* generic failure; message says why */
#define CALIB_INVALID_ARGUMENT 2      /* bad index, NULL where not allowed, struct too small */
#define CALIB_UNSUPPORTED 3           /* this case cannot run natively here (e.g. precision) */
#define CALIB_OUT_OF_MEMORY 4
#define CALIB_VERIFICATION_FAILED 5   /* the kernel computed a wrong result */
#define CALIB_CANCELLED 6             /* the host asked to stop (host services is_cancelled) */
#define CALIB_UNAVAILABLE 7           /* device absent or unusable (e.g. no GPU, no driver) */

/* Caller-owned message buffer. The callee writes at most `capacity` bytes including the NUL and
 * always NUL-terminates when capacity > 0. `data` may be NULL when capacity is 0. */
typedef struct calib_message {
    char* data;
    uint32_t capacity;
} calib_message;

#endif /* CALIB_ABI_H */
