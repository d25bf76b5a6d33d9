//! frei0r plugin `wick_generate`: Wick's `wick.generate` node (see `wick::frei0r`).
wick::frei0r_plugin!(
    "wick.generate",
    "wick_generate",
    wick::frei0r::F0R_PLUGIN_TYPE_SOURCE
);
