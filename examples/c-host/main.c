/*
 * A minimal C host for the Wick plugin: loads libwick.so with dlopen, lists the nodes, and
 * renders one frame of wick.generate into a binary PPM.
 *
 *   gcc -std=c99 -Wall -Werror -I ../../host-sdk/include main.c -o c-host -ldl
 *   ./c-host ../../target/release/libwick.so out.ppm
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wick.h"

static int32_t on_progress(void *user_data, double fraction, const char *message) {
    (void)user_data;
    fprintf(stderr, "progress %.0f%% %s\n", fraction * 100.0, message);
    return 0; /* 0: keep going */
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH/TO/libwick.so OUT.ppm\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    const wick_plugin_entry *entry = (const wick_plugin_entry *)dlsym(lib, WICK_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "not a Wick plugin: %s\n", dlerror());
        return 3;
    }
    const wick_api *api = NULL;
    if (entry->get_api(WICK_ABI_VERSION_MAJOR, &api) != WICK_OK) {
        fprintf(stderr, "incompatible plugin: %s\n", entry->last_error());
        return 3;
    }
    printf("%s %s, ABI %u.%u\n", entry->plugin_name, entry->plugin_version, api->abi_major,
           api->abi_minor);

    uint32_t n = api->node_count();
    for (uint32_t i = 0; i < n; i++) {
        const wick_node_descriptor *d = NULL;
        if (api->node_descriptor(i, &d) != WICK_OK) {
            fprintf(stderr, "descriptor %u: %s\n", i, api->last_error());
            return 4;
        }
        printf("node %s (%s): %u inputs, %u params\n", d->id, d->label, d->input_count,
               d->param_count);
        for (uint32_t p = 0; p < d->param_count; p++) {
            printf("  param %s\n", d->params[p].name);
        }
    }

    wick_instance *inst = NULL;
    if (api->instance_create("wick.generate", &inst) != WICK_OK) {
        fprintf(stderr, "create: %s\n", api->last_error());
        return 4;
    }
    wick_value seed;
    memset(&seed, 0, sizeof seed);
    seed.type = WICK_PARAM_INT;
    seed.integer = 42;
    if (api->param_set(inst, "seed", &seed) != WICK_OK) {
        fprintf(stderr, "param_set: %s\n", api->instance_last_error(inst));
        return 4;
    }
    /* A bad value is refused with a message, not a crash. */
    wick_value bad = seed;
    bad.type = WICK_PARAM_FLOAT;
    bad.number = 5.0;
    if (api->param_set(inst, "mix", &bad) == WICK_OK) {
        fprintf(stderr, "mix=5 should have been refused\n");
        return 4;
    }
    printf("refused mix=5: %s\n", api->instance_last_error(inst));

    const uint32_t w = 320, h = 180;
    size_t stride = (size_t)w * 3;
    unsigned char *pixels = (unsigned char *)malloc(stride * h);
    if (!pixels) return 4;
    wick_frame out;
    memset(&out, 0, sizeof out);
    out.data = pixels;
    out.data_len = (uint64_t)(stride * h);
    out.width = w;
    out.height = h;
    out.row_stride = (int64_t)stride;
    out.sample_type = WICK_SAMPLE_U8;
    out.channels = WICK_CHANNELS_RGB;
    out.alpha = WICK_ALPHA_STRAIGHT;
    out.color_space = WICK_COLOR_SRGB;

    wick_process_args args;
    memset(&args, 0, sizeof args);
    args.time = 1.0;
    args.frame = 24;
    args.input_count = 0;
    args.inputs = NULL;
    args.output_count = 1;
    args.outputs = &out;
    args.progress = on_progress;
    args.user_data = NULL;
    wick_status st = api->process(inst, &args);
    if (st != WICK_OK) {
        fprintf(stderr, "process (status %d): %s\n", (int)st, api->instance_last_error(inst));
        return 4;
    }

    FILE *f = fopen(argv[2], "wb");
    if (!f) return 4;
    fprintf(f, "P6\n%u %u\n255\n", w, h);
    fwrite(pixels, 1, stride * h, f);
    fclose(f);
    printf("wrote %s (%ux%u)\n", argv[2], w, h);

    api->instance_destroy(inst);
    free(pixels);
    dlclose(lib);
    return 0;
}
