/*
 * Memory-checker driver (tests/memcheck.rs runs it under valgrind): a C host that loads
 * libwick.so and drives a few nodes through the C ABI at tiny sizes, in several frame formats
 * (RGBA8, RGB16 with padded rows, premultiplied linear f32), plus the error
 * paths (bad frames, unknown params, a node that panics, a missing model), creating and
 * destroying instances as a host does. Every call's status is checked.
 *
 *   gcc -std=c99 -Wall -Werror -I host-sdk/include tests/memcheck/nodes.c -o nodes -ldl
 *   WICK_ENABLE_TEST_NODES=1 valgrind --leak-check=full ./nodes target/debug/libwick.so
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wick.h"

static const wick_api *api;
static int failures;
static const char *only; /* argv[2]: run only this node (for timing); NULL: everything */

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "FAIL line %d: ", __LINE__);                                     \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

/* A frame over a fresh heap buffer of exactly the bytes it declares; `padded` adds 13 bytes
 * at the end of every row (a stride larger than the row). */
typedef struct {
    wick_frame f;
    unsigned char *base;
} frame_buf;

static frame_buf make_frame(uint32_t w, uint32_t h, int32_t sample, int32_t channels,
                            int32_t alpha, int32_t cs, int padded) {
    frame_buf b;
    size_t ss = sample == WICK_SAMPLE_U8 ? 1 : sample == WICK_SAMPLE_F32 ? 4 : 2;
    size_t row = (size_t)w * (size_t)channels * ss + (padded ? 13 : 0);
    size_t len = row * (h - 1) + (size_t)w * (size_t)channels * ss;
    b.base = (unsigned char *)malloc(len);
    for (size_t i = 0; i < len; i++) b.base[i] = (unsigned char)(i * 37u + 11u);
    if (sample == WICK_SAMPLE_F32) {
        float *p = (float *)b.base;
        for (size_t i = 0; i < len / 4; i++) p[i] = (float)((i * 7) % 100) / 100.0f;
    }
    memset(&b.f, 0, sizeof b.f);
    b.f.data = b.base;
    b.f.data_len = (uint64_t)len;
    b.f.width = w;
    b.f.height = h;
    b.f.row_stride = (int64_t)row;
    b.f.sample_type = sample;
    b.f.channels = channels;
    b.f.alpha = alpha;
    b.f.color_space = cs;
    return b;
}

/* Processes with `n_in` connected inputs out of the node's `n_ports` (the rest unconnected:
 * a frame with NULL data). */
static wick_status process(wick_instance *inst, frame_buf *in, uint32_t n_in, uint32_t n_ports,
                           frame_buf *out) {
    wick_frame ins[2];
    memset(ins, 0, sizeof ins);
    for (uint32_t i = 0; i < n_ports; i++) ins[i].channels = 4;
    for (uint32_t i = 0; i < n_in; i++) ins[i] = in[i].f;
    wick_process_args a;
    memset(&a, 0, sizeof a);
    a.time = 0.5;
    a.frame = 12;
    a.input_count = n_ports;
    a.inputs = n_ports ? ins : NULL;
    a.output_count = 1;
    a.outputs = &out->f;
    return api->process(inst, &a);
}

static void set_str(wick_instance *inst, const char *name, int32_t type, const char *v,
                    wick_status want) {
    wick_value val;
    memset(&val, 0, sizeof val);
    val.type = type;
    val.string = v;
    wick_status st = api->param_set(inst, name, &val);
    CHECK(st == want, "param %s=%s: status %d, want %d (%s)", name, v, (int)st, (int)want,
          api->instance_last_error(inst));
}

/* Runs node `id` on frames of w x h in three formats; inputs copy the output's format. */
static void run_node(const char *id, uint32_t n_in, uint32_t n_ports, uint32_t w, uint32_t h,
                     const char *pname, int32_t ptype, const char *pval) {
    if (only && strcmp(only, id) != 0) return;
    int rounds = strcmp(id, "wick.interpolate") == 0 ? 1 : 2;
    for (int round = 0; round < rounds; round++) {
        wick_instance *inst = NULL;
        wick_status st = api->instance_create(id, &inst);
        CHECK(st == WICK_OK && inst, "create %s: %s", id, api->last_error());
        if (!inst) return;
        if (pname) set_str(inst, pname, ptype, pval, WICK_OK);
        const int32_t fmts[3][5] = {
            {WICK_SAMPLE_U8, 4, WICK_ALPHA_STRAIGHT, WICK_COLOR_SRGB, 0},
            {WICK_SAMPLE_U16, 3, WICK_ALPHA_STRAIGHT, WICK_COLOR_SRGB, 1},
            {WICK_SAMPLE_F32, 4, WICK_ALPHA_PREMULTIPLIED, WICK_COLOR_LINEAR, 0},
        };
        for (int k = 0; k < 3; k++) {
            const int32_t *m = fmts[(k + round) % 3];
            frame_buf in[2], out;
            for (uint32_t i = 0; i < n_in; i++) in[i] = make_frame(w, h, m[0], m[1], m[2], m[3], m[4]);
            out = make_frame(w, h, m[0], m[1], m[2], m[3], m[4]);
            st = process(inst, in, n_in, n_ports, &out);
            CHECK(st == WICK_OK, "%s %ux%u format %d: status %d: %s", id, w, h, k, (int)st,
                  api->instance_last_error(inst));
            for (uint32_t i = 0; i < n_in; i++) free(in[i].base);
            free(out.base);
        }
        api->instance_destroy(inst);
    }
}

static void error_paths(void) {
    wick_instance *inst = NULL;
    CHECK(api->instance_create("no.such.node", &inst) == WICK_ERR_UNKNOWN_NODE, "unknown node");
    CHECK(api->instance_create("wick.debug", &inst) == WICK_OK, "create debug");
    /* Unknown param, bad enum value, NULL value. */
    set_str(inst, "bogus", WICK_PARAM_STRING, "x", WICK_ERR_UNKNOWN_PARAM);
    set_str(inst, "mode", WICK_PARAM_ENUM, "sideways", WICK_ERR_BAD_ARGUMENT);
    CHECK(api->param_set(inst, "mode", NULL) == WICK_ERR_BAD_ARGUMENT, "NULL value");
    /* A frame that declares fewer bytes than its rows need. */
    frame_buf out = make_frame(8, 8, WICK_SAMPLE_U8, 4, WICK_ALPHA_STRAIGHT, WICK_COLOR_SRGB, 0);
    out.f.data_len -= 1;
    CHECK(process(inst, NULL, 0, 1, &out) == WICK_ERR_BAD_ARGUMENT, "short frame");
    out.f.data_len += 1;
    /* A node that panics: contained, reported as internal, instance still usable. */
    set_str(inst, "mode", WICK_PARAM_ENUM, "panic", WICK_OK);
    CHECK(process(inst, NULL, 0, 1, &out) == WICK_ERR_INTERNAL, "panic contained");
    set_str(inst, "mode", WICK_PARAM_ENUM, "error", WICK_OK);
    CHECK(process(inst, NULL, 0, 1, &out) == WICK_ERR_MODEL, "error status");
    set_str(inst, "mode", WICK_PARAM_ENUM, "ok", WICK_OK);
    CHECK(process(inst, NULL, 0, 1, &out) == WICK_OK, "ok after panic");
    api->instance_destroy(inst);
    free(out.base);
    /* A missing model file and a device as a model: model errors, nothing leaked. */
    CHECK(api->instance_create("wick.style-transfer", &inst) == WICK_OK, "create style");
    frame_buf a = make_frame(8, 8, WICK_SAMPLE_U8, 4, WICK_ALPHA_STRAIGHT, WICK_COLOR_SRGB, 0);
    frame_buf o = make_frame(8, 8, WICK_SAMPLE_U8, 4, WICK_ALPHA_STRAIGHT, WICK_COLOR_SRGB, 0);
    set_str(inst, "model", WICK_PARAM_STRING, "/no/such/model.safetensors", WICK_OK);
    wick_status st = process(inst, &a, 1, 2, &o);
    CHECK(st == WICK_ERR_MODEL, "missing model: %d %s", (int)st, api->instance_last_error(inst));
    set_str(inst, "model", WICK_PARAM_STRING, "/dev/zero", WICK_OK);
    st = process(inst, &a, 1, 2, &o);
    CHECK(st == WICK_ERR_MODEL, "device model: %d %s", (int)st, api->instance_last_error(inst));
    api->instance_destroy(inst);
    free(a.base);
    free(o.base);
    /* NULL and stale instances are refused. */
    CHECK(api->process(NULL, NULL) == WICK_ERR_BAD_ARGUMENT, "NULL instance");
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s PATH/TO/libwick.so [NODE]\n", argv[0]);
        return 2;
    }
    only = argc == 3 ? argv[2] : NULL;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    const wick_plugin_entry *entry = (const wick_plugin_entry *)dlsym(lib, WICK_ENTRY_SYMBOL);
    if (!entry || entry->get_api(WICK_ABI_VERSION_MAJOR, &api) != WICK_OK) {
        fprintf(stderr, "not a compatible Wick plugin\n");
        return 3;
    }
    run_node("wick.generate", 0, 0, 24, 16, NULL, 0, NULL);
    run_node("wick.style-transfer", 1, 2, 12, 10, "style", WICK_PARAM_STRING, "3:0.5,12:0.5");
    run_node("wick.interpolate", 2, 2, 16, 12, NULL, 0, NULL);
    run_node("wick.debug", 1, 1, 5, 3, NULL, 0, NULL);
    if (!only) error_paths();
    dlclose(lib);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("memcheck driver: all checks passed\n");
    return 0;
}
