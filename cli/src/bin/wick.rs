//! `wick`: the bundled test host. It loads the Wick plugin through the host SDK (never by
//! linking to it) and runs nodes on image files and node graphs.
//!
//! Exit codes ([`wick_cli::exit`]): 0 every frame written; 2 bad arguments or graph; 3 missing
//! plugin or model; 4 render failure; 75 device unavailable or out of memory (retryable);
//! 130 cancelled (Ctrl-C).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand};
use wick_cli::graph::{parse_frames, Graph, Renderer};
use wick_cli::validate;
use wick_host_sdk::io::{load_image, output_frame, save_image, Depth};
use wick_host_sdk::{default_plugin_path, ffi, Frame, HostError, Plugin};

use wick_cli::exit::{
    BAD_ARGS as EXIT_BAD_ARGS, CANCELLED as EXIT_CANCELLED, MISSING as EXIT_MISSING,
    RENDER as EXIT_RENDER, RETRY as EXIT_RETRY,
};

static CANCEL: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(
    name = "wick",
    version,
    about = "Wick test host: run Wick nodes on image files and node graphs"
)]
struct Cli {
    /// Plugin library (default: $WICK_PLUGIN, else libwick.so beside this binary).
    #[arg(long, global = true)]
    plugin: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Assemble the frei0r plugin folder (wick_style.so, wick_generate.so, wick_interpolate.so
    /// and Kdenlive descriptions) from the libraries beside this binary.
    Frei0r {
        /// Output folder, e.g. target/frei0r (point FREI0R_PATH at it).
        #[arg(long)]
        out: PathBuf,
        /// Folder holding libwick_*.so (default: this binary's folder).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Weights folder to copy into OUT/wick-weights (default: $WICK_WEIGHTS_DIR, else this
        /// source tree's models/weights).
        #[arg(long)]
        weights: Option<PathBuf>,
    },
    /// List the plugin's nodes and their params.
    Nodes {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run one node once on image files.
    Run {
        /// Node id, e.g. wick.generate.
        node: String,
        /// Input images, in the node's declared input order.
        #[arg(long = "in", num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Output image (.png, .jpg, .tif, .exr).
        #[arg(long)]
        out: PathBuf,
        /// Param values, NAME=VALUE.
        #[arg(long = "param", num_args = 1..)]
        params: Vec<String>,
        /// Time in seconds (default: frame / fps).
        #[arg(long)]
        time: Option<f64>,
        /// Frame number.
        #[arg(long, default_value_t = 0)]
        frame: i64,
        /// Frames per second used to derive time from the frame number.
        #[arg(long, default_value_t = 24.0)]
        fps: f64,
        /// Output bit depth for PNG/TIFF: 8 or 16 (default: keeps the inputs' precision).
        #[arg(long)]
        depth: Option<String>,
    },
    /// Render a node graph (TOML) over a frame range.
    Render {
        graph: PathBuf,
        /// Frames: 1-100, 1-100x2, 1,5,9 (default: the graph's `frames`).
        #[arg(long)]
        frames: Option<String>,
    },
    /// Retime a video or image sequence N× with wick.interpolate (N−1 in-betweens per pair,
    /// t = k/N).
    Retime {
        /// Input: a video (in.mp4, .mov, ...) or frames in/f.%04d.png / in/f.####.png.
        input: String,
        /// Output frames per input frame (2 = double the frame rate).
        #[arg(long)]
        factor: u32,
        /// Output: a video (out.mp4: N× the input's fps, its audio copied) or frames
        /// out/f.%04d.png (sequence to sequence: the input's file type).
        #[arg(long)]
        out: String,
        /// wick.interpolate params, NAME=VALUE (e.g. scale=0.5).
        #[arg(long = "param", num_args = 1..)]
        params: Vec<String>,
        /// Frame pairs processed side by side (each op also uses every core; 2 fills the gaps).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Stylise a video or image sequence: read -> wick.style-transfer -> [retime] -> write, with
    /// a progress bar and ETA (the graph renderer; --save-graph keeps the graph).
    Stylize {
        /// Input: a video (shot.mp4, .mov, ...) or frames in/f.%04d.png / in/f.####.png.
        input: String,
        /// Output: a video (out.mp4: H.264; .mov: ProRes 422 HQ; .webm: VP9) or frames
        /// out/f.%04d.png.
        output: String,
        /// Built-in style 0-25 or a blend, e.g. 3:0.5,12:0.5.
        #[arg(long, default_value = "7")]
        style: String,
        /// Temporal stability (wick.style-transfer's `temporal` param).
        #[arg(long)]
        temporal: Option<String>,
        /// Output frames per input frame with wick.interpolate (2 = double the frame rate).
        #[arg(long, default_value_t = 1)]
        retime: u32,
        /// wick.style-transfer params NAME=VALUE (model=..., strength=..., preserve_color=...);
        /// interpolate.NAME=VALUE for the retime (interpolate.scale=0.5).
        #[arg(long = "param", num_args = 1..)]
        params: Vec<String>,
        /// Output frames to render, e.g. 1-48 (default: all).
        #[arg(long)]
        frames: Option<String>,
        /// Video codec: h264, h265, prores, vp9, av1, ffv1 or an FFmpeg encoder name.
        #[arg(long)]
        codec: Option<String>,
        /// Constant rate factor (H.264/H.265/VP9/AV1).
        #[arg(long)]
        crf: Option<f64>,
        /// Encoder preset (x264/x265: ultrafast ... veryslow).
        #[arg(long)]
        preset: Option<String>,
        /// Pixel format of the video, e.g. yuv420p, yuv422p10le.
        #[arg(long)]
        pix_fmt: Option<String>,
        /// Output frame rate (default: the input's x retime).
        #[arg(long)]
        fps: Option<f64>,
        /// Frame rate of an image-sequence input (default 24).
        #[arg(long)]
        input_fps: Option<f64>,
        /// Do not copy the input video's audio.
        #[arg(long)]
        no_audio: bool,
        /// Also write a contact sheet of the styles used (PNG).
        #[arg(long)]
        sheet: Option<PathBuf>,
        /// Also write a picture strip: input | stylised | in-between | next (PNG).
        #[arg(long)]
        strip: Option<PathBuf>,
        /// Input frame for the sheet and strip (default: the middle of the shot).
        #[arg(long)]
        strip_frame: Option<i64>,
        /// Cell width of the sheet and strip in pixels.
        #[arg(long, default_value_t = 320)]
        cell: u32,
        /// Write the graph this renders (a `wick render` file).
        #[arg(long)]
        save_graph: Option<PathBuf>,
    },
    /// Contact sheet: the photo and all 26 built-in styles of wick.style-transfer, labelled.
    Sheet {
        /// The photo.
        photo: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Cell width in pixels.
        #[arg(long, default_value_t = 256)]
        cell: u32,
        /// Cells per row.
        #[arg(long, default_value_t = 7)]
        cols: u32,
        /// Extra wick.style-transfer params, NAME=VALUE (e.g. strength=0.8 preserve_color=true).
        #[arg(long = "param", num_args = 1..)]
        params: Vec<String>,
    },
    /// Train a model with wick.train from a TOML config (Ctrl-C stops and keeps the checkpoint).
    Train {
        /// The config: wick.train params (mode, input, target, style, out, steps, ...) and an
        /// optional `preview` image; relative paths are relative to the file.
        config: PathBuf,
        /// Write the preview frame (the trained model on the preview/held-out frame) here.
        #[arg(long)]
        preview: Option<PathBuf>,
        /// wick.train params overriding the config, NAME=VALUE (e.g. steps=100).
        #[arg(long = "param", num_args = 1..)]
        params: Vec<String>,
    },
    /// Render a graph on a farm: a Slurm job array, or an Open Job Description template.
    Submit {
        #[command(subcommand)]
        engine: wick_cli::submit::Engine,
    },
    /// Conformance run: descriptors, lifecycle, bad input, threads. Exits non-zero on failure.
    Validate {
        /// Instances rendered concurrently on as many threads.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// Print every check, not only failures.
        #[arg(long)]
        verbose: bool,
    },
}

fn exit_code(e: &HostError) -> i32 {
    match e {
        HostError::Load { .. } | HostError::Incompatible(_) => EXIT_MISSING,
        HostError::BadArgument(_) => EXIT_BAD_ARGS,
        HostError::Io { .. } => EXIT_RENDER,
        HostError::Plugin { status, .. } => match *status {
            ffi::WICK_ERR_MODEL => EXIT_MISSING,
            ffi::WICK_ERR_DEVICE | ffi::WICK_ERR_OUT_OF_MEMORY => EXIT_RETRY,
            ffi::WICK_ERR_BAD_ARGUMENT
            | ffi::WICK_ERR_UNKNOWN_NODE
            | ffi::WICK_ERR_UNKNOWN_PARAM => EXIT_BAD_ARGS,
            ffi::WICK_ERR_CANCELLED => EXIT_CANCELLED,
            _ => EXIT_RENDER,
        },
    }
}

fn fail(e: HostError) -> ! {
    eprintln!("wick: error: {e}");
    std::process::exit(exit_code(&e));
}

fn main() {
    let cli = Cli::parse();
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_CANCELLED);
        }
        eprintln!("\nwick: cancelling (Ctrl-C or SIGTERM again to quit at once)...");
    });
    if let Cmd::Frei0r { out, from, weights } = &cli.cmd {
        if let Err(e) = frei0r_folder(out, from.as_deref(), weights.as_deref()) {
            fail(e);
        }
        return;
    }
    let path = default_plugin_path(cli.plugin.as_deref());
    let plugin = Plugin::load(&path).unwrap_or_else(|e| fail(e));
    let r = match cli.cmd {
        Cmd::Frei0r { .. } => Ok(()),
        Cmd::Nodes { json } => nodes(&plugin, json),
        Cmd::Run {
            node,
            inputs,
            out,
            params,
            time,
            frame,
            fps,
            depth,
        } => run(
            &plugin,
            &node,
            &inputs,
            &out,
            &params,
            time,
            frame,
            fps,
            depth.as_deref(),
        ),
        Cmd::Render { graph, frames } => render(&plugin, &graph, frames.as_deref()),
        Cmd::Retime {
            input,
            factor,
            out,
            params,
            jobs,
        } => {
            let args = wick_cli::retime::RetimeArgs {
                input,
                factor,
                out,
                params,
                progress_bar: std::io::stderr().is_terminal(),
                jobs,
            };
            wick_cli::retime::retime(&plugin, &args, &|| CANCEL.load(Ordering::SeqCst))
        }
        Cmd::Stylize {
            input,
            output,
            style,
            temporal,
            retime,
            params,
            frames,
            codec,
            crf,
            preset,
            pix_fmt,
            fps,
            input_fps,
            no_audio,
            sheet,
            strip,
            strip_frame,
            cell,
            save_graph,
        } => {
            let args = wick_cli::stylize::StylizeArgs {
                input,
                output,
                style,
                temporal,
                retime,
                params,
                frames,
                codec,
                crf,
                preset,
                pix_fmt,
                fps,
                input_fps,
                no_audio,
                sheet,
                strip,
                strip_frame,
                cell,
                save_graph,
                progress_bar: std::io::stderr().is_terminal(),
                skip_style: false,
            };
            wick_cli::stylize::stylize(&plugin, &args, &|| CANCEL.load(Ordering::SeqCst))
        }
        Cmd::Sheet {
            photo,
            out,
            cell,
            cols,
            params,
        } => {
            let args = wick_cli::sheet::SheetArgs { cell, cols, params };
            wick_cli::sheet::sheet(&plugin, &photo, &out, &args)
        }
        Cmd::Train {
            config,
            preview,
            params,
        } => {
            let args = wick_cli::train::TrainArgs {
                config,
                preview_out: preview,
                params,
                progress_bar: std::io::stderr().is_terminal(),
            };
            wick_cli::train::train(&plugin, &args, &|| CANCEL.load(Ordering::SeqCst))
        }
        Cmd::Validate { threads, verbose } => validate_cmd(&plugin, threads, verbose),
        Cmd::Submit { engine } => match wick_cli::submit::run(&plugin, &path, &engine) {
            Ok(0) => Ok(()),
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = r {
        fail(e);
    }
}

fn frei0r_folder(out: &Path, from: Option<&Path>, weights: Option<&Path>) -> Result<(), HostError> {
    let from = match from {
        Some(f) => f.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .ok_or_else(|| HostError::BadArgument("cannot find this binary's folder".into()))?,
    };
    let weights = match weights {
        Some(w) => w.to_path_buf(),
        None => std::env::var_os("WICK_WEIGHTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(wick_cli::frei0r::source_weights_dir),
    };
    for f in wick_cli::frei0r::assemble(&from, &weights, out)? {
        println!("{}", f.display());
    }
    println!("export FREI0R_PATH={}", out.display());
    Ok(())
}

fn nodes(plugin: &Plugin, json: bool) -> Result<(), HostError> {
    if json {
        let s = serde_json::to_string_pretty(plugin.nodes())
            .map_err(|e| HostError::BadArgument(e.to_string()))?;
        println!("{s}");
        return Ok(());
    }
    for n in plugin.nodes() {
        println!("{}  ({}, {})", n.id, n.label, n.category);
        println!("  {}", n.help);
        let ports = |ps: &[wick_host_sdk::PortInfo]| {
            ps.iter()
                .map(|p| {
                    let mut s = p.name.clone();
                    if p.optional {
                        s.push('?');
                    }
                    if p.frame_offset != 0 {
                        s.push_str(&format!("@{:+}", p.frame_offset));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  inputs: [{}]  outputs: [{}]  threads: {}",
            ports(&n.inputs),
            ports(&n.outputs),
            n.thread_safety
        );
        for p in &n.params {
            let range = match (p.min, p.max) {
                (Some(a), Some(b)) => format!(" [{a}..{b}]"),
                _ if !p.choices.is_empty() => format!(" {{{}}}", p.choices.join("|")),
                _ => String::new(),
            };
            println!(
                "    {:<14} {:<7} = {:<10}{}  {}",
                p.name,
                format!("{:?}", p.ty).to_lowercase(),
                p.default.to_string(),
                range,
                p.help
            );
        }
        println!();
    }
    Ok(())
}

fn progress_cb() -> impl FnMut(f64, &str) -> bool {
    |_f, _m| CANCEL.load(Ordering::SeqCst)
}

#[allow(clippy::too_many_arguments)]
fn run(
    plugin: &Plugin,
    node: &str,
    inputs: &[PathBuf],
    out: &Path,
    params: &[String],
    time: Option<f64>,
    frame: i64,
    fps: f64,
    depth: Option<&str>,
) -> Result<(), HostError> {
    let info = plugin.node(node)?.clone();
    if inputs.len() > info.inputs.len() {
        return Err(HostError::BadArgument(format!(
            "{node} takes {} input(s), {} given",
            info.inputs.len(),
            inputs.len()
        )));
    }
    let mut frames = Vec::new();
    for p in inputs {
        frames.push(load_image(p).map_err(|e| HostError::BadArgument(format!("input: {e}")))?);
    }
    for (k, port) in info.inputs.iter().enumerate().skip(frames.len()) {
        if !port.optional {
            return Err(HostError::BadArgument(format!(
                "{node}: input {} ('{}') is required (--in)",
                k + 1,
                port.name
            )));
        }
    }
    let mut inst = plugin.instance(node)?;
    inst.set_params_kv(params)?;
    let depth = match depth {
        Some(d) => Depth::parse(d)
            .ok_or_else(|| HostError::BadArgument(format!("--depth {d}: use 8, 16 or 32")))?,
        None => frames
            .iter()
            .map(Depth::of)
            .max_by_key(|d| *d as u8)
            .unwrap_or(Depth::U8),
    };
    let (w, h) = match frames.first() {
        Some(f) => (f.width, f.height),
        None => inst.source_size()?,
    };
    let mut outs = vec![output_frame(out, depth, w, h)?];
    let refs: Vec<Option<&Frame>> = (0..info.inputs.len()).map(|k| frames.get(k)).collect();
    let time = time.unwrap_or(frame as f64 / fps);
    let mut cb = progress_cb();
    let t0 = Instant::now();
    inst.process(time, frame, &refs, &mut outs, Some(&mut cb))?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    save_image(&outs[0], out)?;
    eprintln!("wick: {node} {w}x{h} in {ms:.1} ms -> {}", out.display());
    Ok(())
}

fn render(plugin: &Plugin, graph_path: &Path, frames: Option<&str>) -> Result<(), HostError> {
    let graph = Graph::load(graph_path, plugin)?;
    let spec = frames
        .map(str::to_string)
        .or_else(|| graph.frames.clone())
        .ok_or_else(|| {
            HostError::BadArgument(
                "no frame range: pass --frames or set `frames` in the graph".into(),
            )
        })?;
    let list = parse_frames(&spec)?;
    let mut r = Renderer::new(graph, plugin)?;
    let opts = wick_cli::render::RenderOptions {
        progress_bar: std::io::stderr().is_terminal(),
    };
    wick_cli::render::render_frames(&mut r, &list, &opts, &|| CANCEL.load(Ordering::SeqCst))?;
    Ok(())
}

fn validate_cmd(plugin: &Plugin, threads: usize, verbose: bool) -> Result<(), HostError> {
    let checks = validate::run(plugin, threads.max(1));
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    for c in &checks {
        if verbose || !c.ok {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            println!(
                "{mark} {:<22} {}{}",
                c.node,
                c.name,
                if c.detail.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", c.detail)
                }
            );
        }
    }
    let nodes = plugin.nodes().len();
    println!("validate: {} nodes, {} checks", nodes, checks.len());
    println!(
        "{} passed, {} failed",
        checks.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
