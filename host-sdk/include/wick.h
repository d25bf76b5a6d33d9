/*
 * wick.h — the Wick plugin C ABI, version 1.
 *
 * A host loads the Wick shared library (libwick.so), looks up the one exported symbol
 * `wick_entry` (a const `wick_plugin_entry`), checks `abi_major`, and calls `get_api` with the
 * ABI major version it speaks. Everything else goes through the returned `wick_api` table.
 *
 * Conventions
 * - All strings are NUL-terminated UTF-8. Strings returned by the plugin are owned by the
 *   plugin; their lifetime is stated with each function.
 * - Enumerations are passed as int32_t so that the plugin can validate any value a host sends;
 *   an unknown value yields WICK_ERR_BAD_ARGUMENT, never undefined behaviour.
 * - Every function returns a wick_status (or a value documented as always valid). On failure a
 *   readable message is available: per instance through `instance_last_error`, and for
 *   plugin-level calls (no instance) per calling thread through `last_error`.
 * - The plugin never calls abort(), never lets a panic/exception cross this boundary, validates
 *   every pointer, size, stride and enum before touching memory, and never writes outside the
 *   host's output frames.
 *
 * Threading contract (in the manner of CLAP)
 * - [any-thread]: may be called from any thread, concurrently with any other call.
 * - [instance]: calls on the SAME instance must be serialised by the host (one at a time);
 *   calls on DIFFERENT instances may run concurrently on different threads, subject to the
 *   node's `thread_safety` (see wick_thread_safety).
 *
 * Compiles as C99 and C++ (-Wall -Werror).
 */
#ifndef WICK_H
#define WICK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WICK_ABI_VERSION_MAJOR 1
#define WICK_ABI_VERSION_MINOR 2 /* 1.1: param role flags (WICK_PARAM_FLAG_ROLE_*); 1.2: ROLE_PAST_FRAMES */

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                               */
/* ------------------------------------------------------------------------------------------ */
typedef int32_t wick_status;
#define WICK_OK 0
#define WICK_ERR_BAD_ARGUMENT 1        /* null pointer, bad size/stride/enum, bad param value */
#define WICK_ERR_UNSUPPORTED_FORMAT 2  /* frame format/combination the node cannot handle */
#define WICK_ERR_OUT_OF_MEMORY 3       /* an allocation failed or the request is too large */
#define WICK_ERR_CANCELLED 4           /* the progress callback asked to cancel */
#define WICK_ERR_MODEL 5               /* model or weights missing, corrupt or incompatible */
#define WICK_ERR_INTERNAL 6            /* a bug in the plugin (e.g. a caught panic) */
#define WICK_ERR_UNKNOWN_NODE 7        /* no node with that id */
#define WICK_ERR_UNKNOWN_PARAM 8       /* no param with that name on this node */
#define WICK_ERR_INCOMPATIBLE_VERSION 9 /* the host's ABI major version is not supported */
#define WICK_ERR_DEVICE 10             /* requested compute device not built in or not present */

/* ------------------------------------------------------------------------------------------ */
/* Frames                                                                                     */
/* ------------------------------------------------------------------------------------------ */
typedef int32_t wick_sample_type;
#define WICK_SAMPLE_U8 0   /* 0..255 */
#define WICK_SAMPLE_U16 1  /* 0..65535, native endian */
#define WICK_SAMPLE_F16 2  /* IEEE half, native endian, nominal 0..1 */
#define WICK_SAMPLE_F32 3  /* IEEE float, nominal 0..1 (values outside are kept where meaningful) */

typedef int32_t wick_channels;
#define WICK_CHANNELS_RGBA 4 /* interleaved R, G, B, A */
#define WICK_CHANNELS_RGB 3  /* interleaved R, G, B (opaque) */

typedef int32_t wick_alpha;
#define WICK_ALPHA_STRAIGHT 0      /* colour not multiplied by alpha */
#define WICK_ALPHA_PREMULTIPLIED 1 /* colour multiplied by alpha (OpenFX/EXR convention) */

typedef int32_t wick_color_space;
#define WICK_COLOR_SRGB 0   /* sRGB-encoded values (typical 8/16-bit images) */
#define WICK_COLOR_LINEAR 1 /* linear-light Rec.709/sRGB primaries (typical float/EXR) */

/* An image owned by the host. Row r starts at (uint8_t*)data + r * row_stride. The plugin
 * checks that row_stride >= width * channels * sample_size, that
 * (height - 1) * row_stride + width * channels * sample_size <= data_len, and that all enums
 * are known, before touching memory. No alignment is required (samples are read bytewise).
 * Sizes are limited to 32768 pixels a side and 2^27 pixels a frame (WICK_ERR_OUT_OF_MEMORY
 * beyond). Float inputs must be finite (NaN/Inf give WICK_ERR_BAD_ARGUMENT).
 * For RGB frames `alpha` is ignored. Inputs and outputs may share memory: inputs are read in
 * full before any output is written. */
typedef struct wick_frame {
    void *data;
    uint64_t data_len;    /* bytes available at data */
    uint32_t width;       /* pixels, >= 1 */
    uint32_t height;      /* pixels, >= 1 */
    int64_t row_stride;   /* bytes from one row to the next, > 0 */
    wick_sample_type sample_type;
    wick_channels channels;
    wick_alpha alpha;
    wick_color_space color_space;
} wick_frame;

/* ------------------------------------------------------------------------------------------ */
/* Descriptors (plugin-owned, valid until the library is unloaded)                            */
/* ------------------------------------------------------------------------------------------ */
typedef int32_t wick_param_type;
#define WICK_PARAM_FLOAT 0  /* double, in [min, max] */
#define WICK_PARAM_INT 1    /* int64, in [min, max] */
#define WICK_PARAM_BOOL 2   /* int64 0 or 1 */
#define WICK_PARAM_ENUM 3   /* string, one of `choices` */
#define WICK_PARAM_STRING 4 /* free UTF-8 string (e.g. a blend spec) */
#define WICK_PARAM_PATH 5   /* UTF-8 file-system path (may be empty) */
#define WICK_PARAM_COLOR 6  /* four doubles RGBA, sRGB-encoded, 0..1 */

typedef struct wick_param_descriptor {
    const char *name;  /* machine name, [a-z0-9_]+ */
    const char *label; /* human label */
    const char *help;  /* one-line help */
    wick_param_type type;
    double default_number;       /* FLOAT, INT, BOOL */
    const char *default_string;  /* ENUM, STRING, PATH ("" otherwise, never NULL) */
    double default_color[4];     /* COLOR */
    double min;                  /* FLOAT, INT: inclusive range */
    double max;
    uint32_t choice_count;       /* ENUM */
    const char *const *choices;  /* ENUM: choice_count strings */
    uint32_t flags;              /* WICK_PARAM_FLAG_* */
} wick_param_descriptor;

#define WICK_PARAM_FLAG_ANIMATABLE 1u /* may change per frame (hosts may keyframe it) */
#define WICK_PARAM_FLAG_NEEDS_RELOAD 2u /* changing it reloads a model (expensive) */
/* Roles (ABI 1.1; a 1.0 plugin sets none): what a param means to a host, so hosts need not
 * go by names. At most one role flag per param. */
#define WICK_PARAM_FLAG_ROLE_TIME 4u          /* FLOAT 0..1: the position between two inputs */
#define WICK_PARAM_FLAG_ROLE_OUTPUT_WIDTH 8u  /* INT: a source node's output width in pixels */
#define WICK_PARAM_FLAG_ROLE_OUTPUT_HEIGHT 16u /* INT: a source node's output height */
/* ABI 1.2: FLOAT, INT or BOOL: while its value is zero the node ignores its past-frame inputs
 * (below), so a host need not fetch or pass them (e.g. style-transfer's "temporal"). */
#define WICK_PARAM_FLAG_ROLE_PAST_FRAMES 32u

/* Past frames: an optional input named "<input>@<offset>" with a negative frame_offset (e.g.
 * "source@-1", frame_offset -1) is a past frame of input <input>. A host that renders a
 * sequence passes that input's frame at (frame + frame_offset) in it, as an ordinary input,
 * or NULL data where there is none (before the sequence start, or after a seek when it keeps
 * no earlier frames): the node then falls back (e.g. style-transfer stylises that frame on
 * its own). Passing them makes the output depend only on the input frames in the window, so
 * any frame can be rendered alone, in any order, on any machine. */
typedef struct wick_port_descriptor {
    const char *name;
    const char *help;
    uint32_t optional;     /* 1: the host may leave this input unconnected (frame data NULL) */
    int32_t frame_offset;  /* frames needed at other times: this input is wanted at the
                              current frame + frame_offset (OpenFX GetFramesNeeded); 0 = now */
} wick_port_descriptor;

typedef int32_t wick_thread_safety;
#define WICK_THREAD_UNSAFE 0        /* one instance at a time in the whole process */
#define WICK_THREAD_INSTANCE_SAFE 1 /* different instances may process concurrently */
#define WICK_THREAD_FULLY_SAFE 2    /* as INSTANCE_SAFE (same-instance calls are always serialised) */

#define WICK_NODE_FLAG_SOURCE 1u        /* no required inputs; output size from params */
#define WICK_NODE_FLAG_LONG_RUNNING 2u  /* process may take minutes (e.g. training) */
#define WICK_NODE_FLAG_CANCELLABLE 4u   /* honours cancel from the progress callback */
#define WICK_NODE_FLAG_TEMPORAL 8u      /* some input has a non-zero frame_offset */

typedef struct wick_node_descriptor {
    const char *id;       /* "wick.generate", "wick.style-transfer", ... */
    const char *label;
    const char *category; /* e.g. "Wick/Generate" */
    const char *help;
    uint32_t input_count;
    const wick_port_descriptor *inputs;
    uint32_t output_count;
    const wick_port_descriptor *outputs;
    uint32_t param_count;
    const wick_param_descriptor *params;
    wick_thread_safety thread_safety;
    uint32_t flags; /* WICK_NODE_FLAG_* */
} wick_node_descriptor;

/* ------------------------------------------------------------------------------------------ */
/* Param values                                                                               */
/* ------------------------------------------------------------------------------------------ */
/* A tagged value. `type` selects the field: FLOAT uses number; INT and BOOL use integer;
 * ENUM, STRING and PATH use string; COLOR uses color. Setting validates type, range, NaN and
 * enum choices and returns WICK_ERR_BAD_ARGUMENT with a message on a bad value. A FLOAT param
 * also accepts an INT value and vice versa when it is integral. */
typedef struct wick_value {
    wick_param_type type;
    double number;
    int64_t integer;
    const char *string; /* on get: plugin-owned, valid until the next call on the instance */
    double color[4];
} wick_value;

/* ------------------------------------------------------------------------------------------ */
/* Process                                                                                    */
/* ------------------------------------------------------------------------------------------ */
/* Called by the plugin during process with a fraction in [0, 1] and a short UTF-8 message
 * (valid only during the call). Return non-zero to ask the plugin to cancel: process then
 * returns WICK_ERR_CANCELLED as soon as it can. Called on the thread that called process. */
typedef int32_t (*wick_progress_fn)(void *user_data, double fraction, const char *message);

typedef struct wick_process_args {
    double time;                 /* seconds */
    int64_t frame;               /* frame number */
    uint32_t input_count;        /* the node's input_count, or fewer when every input left
                                    out is optional (they are unconnected) */
    const wick_frame *inputs;    /* input_count frames; an unconnected optional input has
                                    data == NULL (its other fields are ignored) */
    uint32_t output_count;       /* must equal the node's output_count */
    const wick_frame *outputs;   /* output_count frames written by the plugin; their size and
                                    format are chosen by the host. For filters the output size
                                    must equal the first input's size. */
    wick_progress_fn progress;   /* may be NULL */
    void *user_data;             /* passed back to progress */
} wick_process_args;

/* ------------------------------------------------------------------------------------------ */
/* The API table                                                                              */
/* ------------------------------------------------------------------------------------------ */
typedef struct wick_instance wick_instance; /* opaque */

typedef struct wick_api {
    uint32_t abi_major; /* == WICK_ABI_VERSION_MAJOR */
    uint32_t abi_minor;

    /* [any-thread] Number of nodes. Always valid. */
    uint32_t (*node_count)(void);

    /* [any-thread] Descriptor of node `index` (< node_count). */
    wick_status (*node_descriptor)(uint32_t index, const wick_node_descriptor **out);

    /* [any-thread] Creates an instance of node `node_id` with default params. Cheap: models
     * load lazily on the first process call and are cached. */
    wick_status (*instance_create)(const char *node_id, wick_instance **out);

    /* [instance] Destroys an instance (NULL is ignored). Not concurrently with other calls on
     * the same instance. */
    void (*instance_destroy)(wick_instance *instance);

    /* [instance] Sets a param by name. */
    wick_status (*param_set)(wick_instance *instance, const char *name, const wick_value *value);

    /* [instance] Reads a param by name; strings stay valid until the next call on the
     * instance. */
    wick_status (*param_get)(wick_instance *instance, const char *name, wick_value *out);

    /* [instance] Runs the node once. Long-running nodes report through args->progress. */
    wick_status (*process)(wick_instance *instance, const wick_process_args *args);

    /* [instance] Message of the last failed call on this instance ("" if none). Valid until the
     * next call on the instance. Never NULL. NULL instance gives "". */
    const char *(*instance_last_error)(const wick_instance *instance);

    /* [any-thread] Message of the last failed plugin-level call (get_api, node_descriptor,
     * instance_create, or a call given a NULL instance) on the calling thread ("" if none).
     * Valid until the next plugin-level call on this thread. Never NULL. */
    const char *(*last_error)(void);
} wick_api;

/* The one exported symbol: `wick_entry`. */
typedef struct wick_plugin_entry {
    uint32_t abi_major; /* the plugin's ABI major version */
    uint32_t abi_minor;
    const char *plugin_name;    /* "Wick" */
    const char *plugin_version; /* semantic version of the plugin build */
    /* [any-thread] Returns the API for ABI major `host_abi_major`, or
     * WICK_ERR_INCOMPATIBLE_VERSION (message via last_error) when the plugin cannot speak it. */
    wick_status (*get_api)(uint32_t host_abi_major, const wick_api **out);
    /* [any-thread] Same as wick_api.last_error, usable before get_api succeeded. */
    const char *(*last_error)(void);
} wick_plugin_entry;

#define WICK_ENTRY_SYMBOL "wick_entry"

#ifdef __cplusplus
}
#endif

#endif /* WICK_H */
