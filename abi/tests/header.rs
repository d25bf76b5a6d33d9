//! Checks the Rust declarations of `wick-abi` against the C contract, `host-sdk/include/wick.h`,
//! as the system C compiler sees it: every struct's size and alignment, every field's offset
//! and size, every integer typedef's size and signedness, and every `#define` value.
//!
//! The header is parsed (comments stripped, `typedef struct ... { ... } name;` bodies split on
//! `;`, `#define NAME VALUE` lines) to list what exists; a small C program generated from that
//! list prints what the compiler makes of each item. Both directions are checked: an item in
//! the header without a Rust counterpart fails, and so does a Rust item the header lacks.
//! The compiler is `$CC`, else `cc` (installed by `scripts/setup.sh`); a missing compiler fails
//! the test, it never skips.

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use wick_abi::*;

fn header_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host-sdk/include/wick.h")
}

/// Removes `/* ... */` and `// ...` comments.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        // A block comment first (or alone), else a line comment, else no comment left.
        let block_first = match (block, line) {
            (Some(b), Some(l)) => b < l,
            (b, _) => b.is_some(),
        };
        match (block, line) {
            (Some(b), _) if block_first => {
                out.push_str(&rest[..b]);
                let end = rest[b + 2..].find("*/").expect("unterminated comment") + b + 4;
                out.push(' ');
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = &rest[l..];
                rest = rest.find('\n').map_or("", |n| &rest[n..]);
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// What the header declares.
#[derive(Default, Debug)]
struct Header {
    /// `#define NAME VALUE` (valued defines only; the include guard has no value).
    defines: Vec<(String, String)>,
    /// `typedef <integer type> name;`
    int_typedefs: Vec<String>,
    /// Struct name -> field names, in order.
    structs: Vec<(String, Vec<String>)>,
    /// Other typedefs (function pointers, opaque structs) by name.
    other_typedefs: Vec<String>,
}

fn parse_header(src: &str) -> Header {
    let src = strip_comments(src);
    let mut h = Header::default();
    for line in src.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("#define ") {
            let mut it = d.splitn(2, char::is_whitespace);
            let name = it.next().unwrap().to_string();
            let value = it.next().unwrap_or("").trim().to_string();
            if !value.is_empty() {
                h.defines.push((name, value));
            }
        }
    }
    // Statements outside the preprocessor, split on ';' (a struct body is handled whole).
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(start) = rest.find("typedef") {
        rest = &rest[start + "typedef".len()..];
        let semi = rest.find(';').expect("typedef without ;");
        let brace = rest.find('{');
        match brace {
            Some(b) if b < semi => {
                // typedef struct X { fields } X;
                let close = rest.find('}').expect("struct without }");
                let body = &rest[b + 1..close];
                let after = &rest[close + 1..];
                let end = after.find(';').unwrap();
                let name = after[..end].trim().to_string();
                let fields = body
                    .split(';')
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|s| !s.is_empty())
                    .map(|s| field_name(&s))
                    .collect();
                h.structs.push((name, fields));
                rest = &after[end + 1..];
            }
            _ => {
                let decl = rest[..semi]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                rest = &rest[semi + 1..];
                if let Some(p) = decl.find("(*") {
                    let n = &decl[p + 2..];
                    h.other_typedefs
                        .push(n[..n.find(')').unwrap()].trim().to_string());
                } else if decl.starts_with("struct ") {
                    h.other_typedefs
                        .push(decl.rsplit(' ').next().unwrap().to_string());
                } else {
                    let name = decl.rsplit(' ').next().unwrap().to_string();
                    h.int_typedefs.push(name);
                }
            }
        }
    }
    h
}

/// The field name of a normalised declaration: `ret (*name)(args)`, `type *name`, `type name[4]`.
fn field_name(decl: &str) -> String {
    if let Some(p) = decl.find("(*") {
        let n = &decl[p + 2..];
        return n[..n.find(')').unwrap()].trim().to_string();
    }
    let d = decl.split('[').next().unwrap();
    d.rsplit([' ', '*']).next().unwrap().to_string()
}

/// Rust name of a C field (`type` is a keyword).
fn rust_field(c: &str) -> &str {
    if c == "type" {
        "type_"
    } else {
        c
    }
}

/// Size of a field through a projection (`|s: &T| &s.f`).
fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! fields {
    ($t:ident: $($f:ident),+ $(,)?) => {
        (
            stringify!($t),
            (size_of::<$t>(), align_of::<$t>()),
            vec![$((stringify!($f), offset_of!($t, $f), field_size(|s: &$t| &s.$f))),+],
        )
    };
}

type RustStruct = (
    &'static str,
    (usize, usize),
    Vec<(&'static str, usize, usize)>,
);

/// Every struct the crate declares, with its fields in declaration order.
fn rust_structs() -> Vec<RustStruct> {
    vec![
        fields!(wick_frame: data, data_len, width, height, row_stride, sample_type, channels,
            alpha, color_space),
        fields!(wick_param_descriptor: name, label, help, type_, default_number, default_string,
            default_color, min, max, choice_count, choices, flags),
        fields!(wick_port_descriptor: name, help, optional, frame_offset),
        fields!(wick_node_descriptor: id, label, category, help, input_count, inputs,
            output_count, outputs, param_count, params, thread_safety, flags),
        fields!(wick_value: type_, number, integer, string, color),
        fields!(wick_process_args: time, frame, input_count, inputs, output_count, outputs,
            progress, user_data),
        fields!(wick_api: abi_major, abi_minor, node_count, node_descriptor, instance_create,
            instance_destroy, param_set, param_get, process, instance_last_error, last_error),
        fields!(wick_plugin_entry: abi_major, abi_minor, plugin_name, plugin_version, get_api,
            last_error),
    ]
}

/// Integer typedefs: (name, size, signed).
fn rust_int_typedefs() -> Vec<(&'static str, usize, bool)> {
    macro_rules! t {
        ($($t:ident),+) => { vec![$((stringify!($t), size_of::<$t>(), <$t>::MIN != 0)),+] };
    }
    t!(
        wick_status,
        wick_sample_type,
        wick_channels,
        wick_alpha,
        wick_color_space,
        wick_param_type,
        wick_thread_safety
    )
}

/// Every valued `#define`, as the integer the Rust constant holds.
fn rust_defines() -> Vec<(&'static str, i64)> {
    macro_rules! d {
        ($($c:ident),+ $(,)?) => { vec![$((stringify!($c), $c as i64)),+] };
    }
    d!(
        WICK_ABI_VERSION_MAJOR,
        WICK_ABI_VERSION_MINOR,
        WICK_OK,
        WICK_ERR_BAD_ARGUMENT,
        WICK_ERR_UNSUPPORTED_FORMAT,
        WICK_ERR_OUT_OF_MEMORY,
        WICK_ERR_CANCELLED,
        WICK_ERR_MODEL,
        WICK_ERR_INTERNAL,
        WICK_ERR_UNKNOWN_NODE,
        WICK_ERR_UNKNOWN_PARAM,
        WICK_ERR_INCOMPATIBLE_VERSION,
        WICK_ERR_DEVICE,
        WICK_SAMPLE_U8,
        WICK_SAMPLE_U16,
        WICK_SAMPLE_F16,
        WICK_SAMPLE_F32,
        WICK_CHANNELS_RGBA,
        WICK_CHANNELS_RGB,
        WICK_ALPHA_STRAIGHT,
        WICK_ALPHA_PREMULTIPLIED,
        WICK_COLOR_SRGB,
        WICK_COLOR_LINEAR,
        WICK_PARAM_FLOAT,
        WICK_PARAM_INT,
        WICK_PARAM_BOOL,
        WICK_PARAM_ENUM,
        WICK_PARAM_STRING,
        WICK_PARAM_PATH,
        WICK_PARAM_COLOR,
        WICK_PARAM_FLAG_ANIMATABLE,
        WICK_PARAM_FLAG_NEEDS_RELOAD,
        WICK_PARAM_FLAG_ROLE_TIME,
        WICK_PARAM_FLAG_ROLE_OUTPUT_WIDTH,
        WICK_PARAM_FLAG_ROLE_OUTPUT_HEIGHT,
        WICK_PARAM_FLAG_ROLE_PAST_FRAMES,
        WICK_THREAD_UNSAFE,
        WICK_THREAD_INSTANCE_SAFE,
        WICK_THREAD_FULLY_SAFE,
        WICK_NODE_FLAG_SOURCE,
        WICK_NODE_FLAG_LONG_RUNNING,
        WICK_NODE_FLAG_CANCELLABLE,
        WICK_NODE_FLAG_TEMPORAL,
    )
}

/// The C program printing one line per item: `struct NAME SIZE ALIGN`,
/// `field STRUCT.FIELD OFFSET SIZE`, `int NAME SIZE SIGNED`, `define NAME VALUE`,
/// `string NAME VALUE`, `other NAME SIZE`.
fn c_program(h: &Header) -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"wick.h\"\nint main(void) {\n",
    );
    for (s, fields) in &h.structs {
        c += &format!("  printf(\"struct {s} %zu %zu\\n\", sizeof({s}), (size_t)_Alignof({s}));\n");
        for f in fields {
            c += &format!(
                "  printf(\"field {s}.{f} %zu %zu\\n\", offsetof({s}, {f}), sizeof((({s} *)0)->{f}));\n"
            );
        }
    }
    for t in &h.int_typedefs {
        c += &format!("  printf(\"int {t} %zu %d\\n\", sizeof({t}), (int)(({t})-1 < 0));\n");
    }
    for t in &h.other_typedefs {
        if t != "wick_instance" {
            c += &format!("  printf(\"other {t} %zu\\n\", sizeof({t}));\n");
        }
    }
    for (name, value) in &h.defines {
        if value.starts_with('"') {
            c += &format!("  printf(\"string {name} %s\\n\", {name});\n");
        } else {
            c += &format!("  printf(\"define {name} %lld\\n\", (long long)({name}));\n");
        }
    }
    c += "  return 0;\n}\n";
    c
}

/// Compiles and runs the layout program for `h` against the `wick.h` in `include`; returns its
/// output lines.
fn run_c(h: &Header, include: &Path, tag: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("wick-abi-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program(h)).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let o = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler '{cc}' (scripts/setup.sh installs it): {e}")
        });
    assert!(
        o.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(&exe).output().expect("run the layout program");
    assert!(o.status.success(), "layout program failed");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn header_parser_sees_every_item() {
    // Guards the parser itself: counts from reading wick.h by hand. A change to the header that
    // the parser misses fails here rather than passing with fewer checks.
    let h = parse_header(&std::fs::read_to_string(header_path()).unwrap());
    let names: Vec<&str> = h.structs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "wick_frame",
            "wick_param_descriptor",
            "wick_port_descriptor",
            "wick_node_descriptor",
            "wick_value",
            "wick_process_args",
            "wick_api",
            "wick_plugin_entry"
        ]
    );
    let nfields: usize = h.structs.iter().map(|(_, f)| f.len()).sum();
    assert_eq!(nfields, 9 + 12 + 4 + 12 + 5 + 8 + 11 + 6);
    assert_eq!(h.int_typedefs.len(), 7, "{:?}", h.int_typedefs);
    assert_eq!(h.other_typedefs, ["wick_progress_fn", "wick_instance"]);
    assert_eq!(h.defines.len(), 44, "{:?}", h.defines);
    assert_eq!(field_name("const char *const *choices"), "choices");
    assert_eq!(field_name("double default_color[4]"), "default_color");
    assert_eq!(
        field_name("wick_status (*get_api)(uint32_t host_abi_major, const wick_api **out)"),
        "get_api"
    );
}

#[test]
fn rust_declarations_match_wick_h_as_compiled() {
    let h = parse_header(&std::fs::read_to_string(header_path()).unwrap());
    let lines = run_c(&h, header_path().parent().unwrap(), "header");
    let mut c: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in &lines {
        let mut it = l.split_whitespace();
        let kind = it.next().unwrap();
        let name = it.next().unwrap();
        c.insert(
            format!("{kind} {name}"),
            it.map(str::to_string).collect::<Vec<_>>(),
        );
    }
    let mut checked = 0usize;
    let mut errors = Vec::new();
    let mut expect = |key: String, rust: Vec<String>, errors: &mut Vec<String>| {
        match c.remove(&key) {
            Some(v) if v == rust => {}
            Some(v) => errors.push(format!("{key}: C {v:?}, Rust {rust:?}")),
            None => errors.push(format!("{key}: declared in Rust, not in wick.h")),
        }
        checked += 1;
    };

    for (s, (size, align), fields) in rust_structs() {
        expect(
            format!("struct {s}"),
            vec![size.to_string(), align.to_string()],
            &mut errors,
        );
        let c_fields = h
            .structs
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, f)| {
                f.iter()
                    .map(|f| rust_field(f).to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let r_fields: Vec<String> = fields.iter().map(|f| f.0.to_string()).collect();
        if c_fields != r_fields {
            errors.push(format!(
                "{s}: fields differ in name or order: C {c_fields:?}, Rust {r_fields:?}"
            ));
        }
        for (f, off, fsize) in fields {
            let cf = if f == "type_" { "type" } else { f };
            expect(
                format!("field {s}.{cf}"),
                vec![off.to_string(), fsize.to_string()],
                &mut errors,
            );
        }
    }
    for (t, size, signed) in rust_int_typedefs() {
        expect(
            format!("int {t}"),
            vec![size.to_string(), (signed as u8).to_string()],
            &mut errors,
        );
    }
    expect(
        "other wick_progress_fn".into(),
        vec![size_of::<wick_progress_fn>().to_string()],
        &mut errors,
    );
    for (d, v) in rust_defines() {
        expect(format!("define {d}"), vec![v.to_string()], &mut errors);
    }
    let sym = std::str::from_utf8(WICK_ENTRY_SYMBOL.strip_suffix(b"\0").unwrap()).unwrap();
    assert!(!sym.contains('\0'));
    expect(
        "string WICK_ENTRY_SYMBOL".into(),
        vec![sym.to_string()],
        &mut errors,
    );
    for key in c.keys() {
        errors.push(format!("{key}: in wick.h, no Rust counterpart in wick-abi"));
    }
    println!("checked {checked} items of wick.h against wick-abi");
    assert!(
        errors.is_empty(),
        "wick-abi and wick.h differ:\n{}",
        errors.join("\n")
    );
    assert_eq!(checked, lines.len());
}

#[test]
fn the_check_catches_a_wrong_declaration() {
    // The comparison must be able to fail: in a header with one field's type changed (an ABI
    // break) the compiler places everything after it elsewhere, and the struct grows.
    let src = std::fs::read_to_string(header_path()).unwrap();
    let broken = src.replacen("uint32_t width;", "uint64_t width;", 1);
    assert_ne!(src, broken, "wick.h no longer declares `uint32_t width;`");
    let dir = std::env::temp_dir().join(format!("wick-abi-broken-h-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("wick.h"), &broken).unwrap();
    let lines = run_c(&parse_header(&broken), &dir, "broken");
    let _ = std::fs::remove_dir_all(&dir);
    let c = |key: &str| -> usize {
        let l = lines.iter().find_map(|l| l.strip_prefix(key)).unwrap();
        l.split(' ').next().unwrap().parse().unwrap()
    };
    let rust = rust_structs();
    let frame = &rust[0];
    assert_eq!(frame.0, "wick_frame");
    let r_height = frame.2.iter().find(|f| f.0 == "height").unwrap().1;
    assert_ne!(c("field wick_frame.height "), r_height);
    assert_ne!(c("struct wick_frame "), frame.1 .0);
}
