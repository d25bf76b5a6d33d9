//! frei0r plugin `wick_interpolate`: Wick's `wick.interpolate` node (see `wick::frei0r`).
wick::frei0r_plugin!(
    "wick.interpolate",
    "wick_interpolate",
    wick::frei0r::F0R_PLUGIN_TYPE_MIXER2
);
