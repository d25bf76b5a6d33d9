//! The frei0r symbols of one plugin library: `frei0r_plugin!` expands, in a tiny `cdylib`
//! crate per node (`plugin/frei0r/*`), to the `f0r_*` functions frei0r.h declares, each a
//! call into this adapter with the library's [`Spec`](super::Spec).

/// Exports the frei0r API for one node from a `cdylib` crate:
/// `wick::frei0r_plugin!("wick.style-transfer", "wick_style", wick::frei0r::F0R_PLUGIN_TYPE_FILTER);`
#[macro_export]
macro_rules! frei0r_plugin {
    ($node_id:expr, $name:expr, $plugin_type:expr) => {
        static WICK_FREI0R_SPEC: $crate::frei0r::Spec = $crate::frei0r::Spec {
            node_id: $node_id,
            name: $name,
            plugin_type: $plugin_type,
        };

        /// Kdenlive's XML description of this plugin (Wick extension; NULL for a source).
        #[no_mangle]
        pub extern "C" fn wick_frei0r_kdenlive_xml() -> *const ::std::ffi::c_char {
            $crate::frei0r::kdenlive_xml_c(&WICK_FREI0R_SPEC)
        }

        #[no_mangle]
        pub extern "C" fn f0r_init() -> ::std::ffi::c_int {
            $crate::frei0r::init(&WICK_FREI0R_SPEC)
        }

        #[no_mangle]
        pub extern "C" fn f0r_deinit() {
            $crate::frei0r::deinit(&WICK_FREI0R_SPEC)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_plugin_info(info: *mut $crate::frei0r::PluginInfo) {
            $crate::frei0r::get_plugin_info(&WICK_FREI0R_SPEC, info)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_param_info(
            info: *mut $crate::frei0r::ParamInfo,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::get_param_info(&WICK_FREI0R_SPEC, info, index)
        }

        #[no_mangle]
        pub extern "C" fn f0r_construct(
            width: ::std::ffi::c_uint,
            height: ::std::ffi::c_uint,
        ) -> *mut ::std::ffi::c_void {
            $crate::frei0r::construct(&WICK_FREI0R_SPEC, width, height)
        }

        #[no_mangle]
        pub extern "C" fn f0r_destruct(instance: *mut ::std::ffi::c_void) {
            $crate::frei0r::destruct(&WICK_FREI0R_SPEC, instance)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_set_param_value(
            instance: *mut ::std::ffi::c_void,
            param: *mut ::std::ffi::c_void,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::set_param_value(&WICK_FREI0R_SPEC, instance, param, index)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_param_value(
            instance: *mut ::std::ffi::c_void,
            param: *mut ::std::ffi::c_void,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::get_param_value(&WICK_FREI0R_SPEC, instance, param, index)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_update(
            instance: *mut ::std::ffi::c_void,
            time: f64,
            inframe: *const u32,
            outframe: *mut u32,
        ) {
            $crate::frei0r::update2(
                &WICK_FREI0R_SPEC,
                instance,
                time,
                inframe,
                ::std::ptr::null(),
                ::std::ptr::null(),
                outframe,
            )
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_update2(
            instance: *mut ::std::ffi::c_void,
            time: f64,
            inframe1: *const u32,
            inframe2: *const u32,
            inframe3: *const u32,
            outframe: *mut u32,
        ) {
            $crate::frei0r::update2(
                &WICK_FREI0R_SPEC,
                instance,
                time,
                inframe1,
                inframe2,
                inframe3,
                outframe,
            )
        }
    };
}
