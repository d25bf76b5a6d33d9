//! `wick validate`: a conformance run over a loaded plugin, in the spirit of clap-validator.
//!
//! Checks descriptors; creates every node, renders its defaults at a small size and destroys
//! it; sends bad input through the raw ABI (null pointers, zero and huge sizes, short strides
//! and buffers, unknown enums, unknown params, out-of-range and NaN values, wrong counts) and
//! expects an error status with a message, never a crash; renders N instances on N threads and
//! expects identical bytes. Long-running nodes (training) need data to do anything, so for them
//! a clear bad-argument error on the default render passes (see [`default_render_ok`]).

use std::collections::HashSet;
use std::ffi::{c_void, CStr, CString};

use crate::ffi::{self, wick_frame, wick_process_args, wick_value};
use crate::{Frame, Instance, NodeInfo, ParamRole, ParamType, ParamValue, Plugin, Sample};

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub node: String,
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Size used for default renders (small: validation must stay quick for heavy models).
pub const W: u32 = 64;
pub const H: u32 = 48;

/// A deterministic test input: a colour gradient with varying alpha.
pub fn test_frame(w: u32, h: u32) -> Frame {
    let mut f = Frame::new_u8(w, h);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let i = (y * w as usize + x) * 4;
            f.data[i] = (x * 255 / w as usize) as u8;
            f.data[i + 1] = (y * 255 / h as usize) as u8;
            f.data[i + 2] = ((x + y) * 7 % 256) as u8;
            f.data[i + 3] = 255 - (x * 100 / w as usize) as u8;
        }
    }
    f
}

/// Creates an instance ready to render at a small size (source nodes get width/height set).
pub fn small_instance<'p>(
    plugin: &'p Plugin,
    node: &NodeInfo,
) -> Result<Instance<'p>, crate::HostError> {
    let mut inst = plugin.instance(&node.id)?;
    if node.source {
        for (role, v) in [(ParamRole::OutputWidth, W), (ParamRole::OutputHeight, H)] {
            if let Some(p) = node.role(role) {
                inst.set_param(&p.name, &ParamValue::Int(v as i64))?;
            }
        }
    }
    Ok(inst)
}

/// Whether a default render's outcome passes. A long-running node (training) cannot do anything
/// useful with its defaults (it has no data folder yet): for it a clear bad-argument error with a
/// message passes too.
pub fn default_render_ok(node: &NodeInfo, r: &Result<Frame, crate::HostError>) -> bool {
    match r {
        Ok(_) => true,
        Err(crate::HostError::Plugin { status, message }) => {
            node.long_running && *status == ffi::WICK_ERR_BAD_ARGUMENT && !message.is_empty()
        }
        Err(_) => false,
    }
}

/// Renders one frame with defaults at the validation size.
pub fn render_default(inst: &mut Instance, node: &NodeInfo) -> Result<Frame, crate::HostError> {
    let input = test_frame(W, H);
    let inputs: Vec<Option<&Frame>> = node
        .inputs
        .iter()
        .map(|p| if p.optional { None } else { Some(&input) })
        .collect();
    let mut out = vec![Frame::new_u8(W, H)];
    inst.process(0.5, 12, &inputs, &mut out, None)?;
    Ok(out.pop().expect("one output"))
}

fn check_descriptor(n: &NodeInfo, ids: &mut HashSet<String>) -> Vec<String> {
    let mut errs = Vec::new();
    if !n.id.starts_with("wick.") {
        errs.push(format!("id '{}' does not start with 'wick.'", n.id));
    }
    if !ids.insert(n.id.clone()) {
        errs.push(format!("duplicate id '{}'", n.id));
    }
    if n.label.is_empty() || n.help.is_empty() || n.category.is_empty() {
        errs.push("empty label, help or category".into());
    }
    if n.outputs.is_empty() {
        errs.push("no outputs".into());
    }
    if !n.source && n.inputs.iter().all(|p| p.optional) {
        errs.push("a non-source node needs a required input".into());
    }
    let mut names = HashSet::new();
    for p in &n.params {
        if p.name.is_empty()
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errs.push(format!("param name '{}' is not [a-z0-9_]+", p.name));
        }
        if !names.insert(p.name.clone()) {
            errs.push(format!("duplicate param '{}'", p.name));
        }
        if p.label.is_empty() || p.help.is_empty() {
            errs.push(format!("param '{}' lacks a label or help", p.name));
        }
        match (&p.ty, &p.default) {
            (ParamType::Float | ParamType::Int, d) => {
                let (min, max) = (p.min.unwrap_or(f64::NAN), p.max.unwrap_or(f64::NAN));
                let v = match d {
                    ParamValue::Float(x) => *x,
                    ParamValue::Int(i) => *i as f64,
                    _ => f64::NAN,
                };
                if !(min <= max && v >= min && v <= max) {
                    errs.push(format!(
                        "param '{}': default {v} not in [{min}, {max}]",
                        p.name
                    ));
                }
            }
            (ParamType::Enum, ParamValue::Str(s))
                if p.choices.is_empty() || !p.choices.contains(s) =>
            {
                errs.push(format!(
                    "param '{}': default '{s}' not among its choices",
                    p.name
                ));
            }
            _ => {}
        }
        if n.source
            && (n.role(ParamRole::OutputWidth).is_none()
                || n.role(ParamRole::OutputHeight).is_none())
        {
            errs.push("a source node needs output width and height params (roles)".into());
        }
    }
    errs
}

fn raw_frame(f: &mut Frame) -> wick_frame {
    wick_frame {
        data: f.data.as_mut_ptr() as *mut c_void,
        data_len: f.data.len() as u64,
        width: f.width,
        height: f.height,
        row_stride: f.row_stride() as i64,
        sample_type: ffi::WICK_SAMPLE_U8,
        channels: 4,
        alpha: 0,
        color_space: 0,
    }
}

/// A named way to break a frame descriptor.
type FrameMutation = Box<dyn Fn(&mut wick_frame)>;

/// Runs the bad-input cases on one node. Returns (case, passed, detail).
fn bad_inputs(plugin: &Plugin, node: &NodeInfo) -> Vec<(String, bool, String)> {
    let api = plugin.raw_api();
    let mut out = Vec::new();
    let inst = match small_instance(plugin, node) {
        Ok(i) => i,
        Err(e) => return vec![("create".into(), false, e.to_string())],
    };
    let raw = inst.raw();
    let mut input = test_frame(W, H);
    let mut output = Frame::new_u8(W, H);
    let n_in = node.inputs.len();
    let mk_args = |ins: &[wick_frame], outs: &[wick_frame]| wick_process_args {
        time: 0.0,
        frame: 0,
        input_count: ins.len() as u32,
        inputs: if ins.is_empty() {
            std::ptr::null()
        } else {
            ins.as_ptr()
        },
        output_count: outs.len() as u32,
        outputs: outs.as_ptr(),
        progress: None,
        user_data: std::ptr::null_mut(),
    };
    let good_in = raw_frame(&mut input);
    let good_out = raw_frame(&mut output);
    let ins = vec![good_in; n_in];
    let mut expect_err = |case: &str, st: i32| {
        // SAFETY: live instance; returns a NUL-terminated string.
        let msg = unsafe { CStr::from_ptr((api.instance_last_error)(raw)) }
            .to_string_lossy()
            .into_owned();
        let ok = st != ffi::WICK_OK && !msg.is_empty();
        out.push((case.to_string(), ok, format!("status {st}: {msg}")));
    };
    let process = |args: &wick_process_args| unsafe { (api.process)(raw, args) };

    // NULL args.
    expect_err("process(NULL args)", unsafe {
        (api.process)(raw, std::ptr::null())
    });
    // Output variations.
    let mutate: Vec<(&str, FrameMutation)> = vec![
        (
            "null output data",
            Box::new(|f| f.data = std::ptr::null_mut()),
        ),
        ("zero width", Box::new(|f| f.width = 0)),
        ("zero height", Box::new(|f| f.height = 0)),
        (
            "huge size, small buffer",
            Box::new(|f| {
                f.width = 40000;
                f.height = 40000;
                f.row_stride = 160000;
            }),
        ),
        ("short stride", Box::new(|f| f.row_stride -= 1)),
        (
            "negative stride",
            Box::new(|f| f.row_stride = -f.row_stride),
        ),
        ("short buffer", Box::new(|f| f.data_len -= 1)),
        ("unknown sample type", Box::new(|f| f.sample_type = 77)),
        ("unknown channels", Box::new(|f| f.channels = 2)),
        ("unknown alpha mode", Box::new(|f| f.alpha = -3)),
        ("unknown colour space", Box::new(|f| f.color_space = 9)),
    ];
    for (case, m) in &mutate {
        let mut o = good_out;
        m(&mut o);
        expect_err(&format!("output: {case}"), process(&mk_args(&ins, &[o])));
        if n_in > 0 && !node.inputs[0].optional {
            let mut i = ins.clone();
            m(&mut i[0]);
            expect_err(
                &format!("input: {case}"),
                process(&mk_args(&i, &[good_out])),
            );
        }
    }
    // Wrong counts.
    let too_many = vec![good_in; n_in + 1];
    expect_err(
        "one input too many",
        process(&mk_args(&too_many, &[good_out])),
    );
    expect_err("no outputs", process(&mk_args(&ins, &[])));
    let mut a = mk_args(&ins, &[good_out]);
    a.outputs = std::ptr::null();
    expect_err("outputs NULL with count 1", process(&a));
    if n_in > 0 {
        let mut a = mk_args(&ins, &[good_out]);
        a.inputs = std::ptr::null();
        expect_err("inputs NULL with count > 0", process(&a));
    }
    let mut a = mk_args(&ins, &[good_out]);
    a.time = f64::NAN;
    expect_err("NaN time", process(&a));
    if !node.source && n_in > 0 {
        let mut small = Frame::new_u8(W / 2, H);
        let o = raw_frame(&mut small);
        expect_err(
            "output size differs from input",
            process(&mk_args(&ins, &[o])),
        );
    }
    // NaN input pixels (float frame).
    if n_in > 0 && !node.inputs[0].optional {
        let mut nan = Frame::new(W, H, Sample::F32, 4, false, true);
        nan.data[..4].copy_from_slice(&f32::NAN.to_ne_bytes());
        let mut f = raw_frame(&mut nan);
        f.sample_type = ffi::WICK_SAMPLE_F32;
        f.color_space = ffi::WICK_COLOR_LINEAR;
        f.row_stride = (W * 16) as i64;
        let mut i = ins.clone();
        i[0] = f;
        expect_err("NaN in a float input", process(&mk_args(&i, &[good_out])));
    }
    // Params.
    let set = |name: &str, v: &wick_value| {
        let c = CString::new(name).expect("no NUL");
        unsafe { (api.param_set)(raw, c.as_ptr(), v) }
    };
    let val = |ty: i32, number: f64, integer: i64| wick_value {
        type_: ty,
        number,
        integer,
        string: std::ptr::null(),
        color: [0.0; 4],
    };
    expect_err(
        "unknown param",
        set("no_such_param_xyz", &val(ffi::WICK_PARAM_FLOAT, 1.0, 1)),
    );
    expect_err("NULL param name", unsafe {
        (api.param_set)(raw, std::ptr::null(), &val(0, 0.0, 0))
    });
    let pname =
        CString::new(node.params.first().map(|p| p.name.as_str()).unwrap_or("x")).expect("no NUL");
    expect_err("NULL param value", unsafe {
        (api.param_set)(raw, pname.as_ptr(), std::ptr::null())
    });
    expect_err(
        "unknown value type",
        set(pname.to_str().unwrap_or("x"), &val(99, 0.0, 0)),
    );
    for p in &node.params {
        match p.ty {
            ParamType::Float => {
                expect_err(
                    &format!("{} = NaN", p.name),
                    set(&p.name, &val(ffi::WICK_PARAM_FLOAT, f64::NAN, 0)),
                );
                expect_err(
                    &format!("{} = +inf", p.name),
                    set(&p.name, &val(ffi::WICK_PARAM_FLOAT, f64::INFINITY, 0)),
                );
                let above = p.max.unwrap_or(0.0) + 1.0;
                expect_err(
                    &format!("{} above max", p.name),
                    set(&p.name, &val(ffi::WICK_PARAM_FLOAT, above, 0)),
                );
            }
            ParamType::Int => {
                let below = p.min.unwrap_or(0.0) as i64 - 1;
                expect_err(
                    &format!("{} below min", p.name),
                    set(&p.name, &val(ffi::WICK_PARAM_INT, 0.0, below)),
                );
            }
            ParamType::Bool => {
                expect_err(
                    &format!("{} = 7", p.name),
                    set(&p.name, &val(ffi::WICK_PARAM_BOOL, 0.0, 7)),
                );
            }
            ParamType::Enum => {
                let s = CString::new("not-a-choice").expect("no NUL");
                let mut v = val(ffi::WICK_PARAM_ENUM, 0.0, 0);
                v.string = s.as_ptr();
                expect_err(&format!("{} = not-a-choice", p.name), set(&p.name, &v));
                let mut v = val(ffi::WICK_PARAM_ENUM, 0.0, 0);
                v.string = std::ptr::null();
                expect_err(&format!("{} = NULL string", p.name), set(&p.name, &v));
            }
            _ => {}
        }
    }
    // Plugin-level calls with bad arguments.
    let plugin_err = |case: &str, st: i32, out: &mut Vec<(String, bool, String)>| {
        let msg = unsafe { CStr::from_ptr((api.last_error)()) }
            .to_string_lossy()
            .into_owned();
        out.push((
            case.to_string(),
            st != ffi::WICK_OK && !msg.is_empty(),
            format!("status {st}: {msg}"),
        ));
    };
    let mut d: *const ffi::wick_node_descriptor = std::ptr::null();
    plugin_err(
        "descriptor index out of range",
        unsafe { (api.node_descriptor)(u32::MAX, &mut d) },
        &mut out,
    );
    let mut ip: *mut ffi::wick_instance = std::ptr::null_mut();
    let bogus = CString::new("wick.no-such-node").expect("no NUL");
    plugin_err(
        "create unknown node",
        unsafe { (api.instance_create)(bogus.as_ptr(), &mut ip) },
        &mut out,
    );
    plugin_err(
        "create with NULL id",
        unsafe { (api.instance_create)(std::ptr::null(), &mut ip) },
        &mut out,
    );
    plugin_err(
        "process on NULL instance",
        unsafe { (api.process)(std::ptr::null_mut(), &mk_args(&ins, &[good_out])) },
        &mut out,
    );
    let fake = 0x10usize as *mut ffi::wick_instance;
    plugin_err(
        "process on a bogus instance pointer",
        unsafe { (api.process)(fake, &mk_args(&ins, &[good_out])) },
        &mut out,
    );
    // The instance still works after all that.
    drop(inst);
    let r = small_instance(plugin, node).and_then(|mut i| render_default(&mut i, node));
    out.push((
        "renders after bad calls".into(),
        default_render_ok(node, &r),
        r.err().map(|e| e.to_string()).unwrap_or_default(),
    ));
    out
}

/// Runs every check; returns them all.
pub fn run(plugin: &Plugin, threads: usize) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut ids = HashSet::new();
    let mut push = |node: &str, name: &str, ok: bool, detail: String| {
        checks.push(Check {
            node: node.into(),
            name: name.into(),
            ok,
            detail,
        })
    };
    push(
        "-",
        "at least one node",
        !plugin.nodes().is_empty(),
        format!("{} nodes", plugin.nodes().len()),
    );
    for node in plugin.nodes() {
        let errs = check_descriptor(node, &mut ids);
        push(&node.id, "descriptor", errs.is_empty(), errs.join("; "));
        // Create, render defaults, destroy.
        let first = small_instance(plugin, node).and_then(|mut i| render_default(&mut i, node));
        push(
            &node.id,
            "create, render defaults, destroy",
            default_render_ok(node, &first),
            first
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        );
        // Param round trip of defaults.
        let rt = (|| -> Result<Vec<String>, crate::HostError> {
            let mut inst = plugin.instance(&node.id)?;
            let mut bad = Vec::new();
            for p in &node.params {
                let got = inst.get_param(&p.name)?;
                if got != p.default {
                    bad.push(format!("{}: {got} != default {}", p.name, p.default));
                }
                inst.set_param(&p.name, &p.default)?;
            }
            Ok(bad)
        })();
        match rt {
            Ok(b) => push(
                &node.id,
                "params get/set round trip",
                b.is_empty(),
                b.join("; "),
            ),
            Err(e) => push(&node.id, "params get/set round trip", false, e.to_string()),
        }
        for (case, ok, detail) in bad_inputs(plugin, node) {
            push(&node.id, &format!("bad input: {case}"), ok, detail);
        }
        // N instances on N threads.
        if let Ok(reference) = first {
            let results: Vec<Result<Frame, String>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            small_instance(plugin, node)
                                .and_then(|mut i| render_default(&mut i, node))
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
                    .collect()
            });
            let same = results.iter().all(|r| {
                r.as_ref()
                    .map(|f| f.data == reference.data)
                    .unwrap_or(false)
            });
            let detail = results
                .iter()
                .filter_map(|r| r.as_ref().err().cloned())
                .collect::<Vec<_>>()
                .join("; ");
            push(
                &node.id,
                &format!("{threads} instances on {threads} threads give identical output"),
                same,
                detail,
            );
        }
    }
    checks
}
