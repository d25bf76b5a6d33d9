//! frei0r plugin `wick_style`: Wick's `wick.style-transfer` node (see `wick::frei0r`).
wick::frei0r_plugin!(
    "wick.style-transfer",
    "wick_style",
    wick::frei0r::F0R_PLUGIN_TYPE_FILTER
);
