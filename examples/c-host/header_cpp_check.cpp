// Compile-only check that wick.h is valid C++ (-Wall -Werror).
#include "wick.h"

int main() {
    wick_frame f = {};
    wick_value v = {};
    (void)f;
    (void)v;
    return WICK_OK;
}
