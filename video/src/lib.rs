//! Video files in and out for Wick, through the FFmpeg command-line tools run as subprocesses.
//!
//! - [`probe`]: size, frame rate, frame count, pixel format, audio, and the presentation time of
//!   every frame (from a packet scan, no decoding). A file FFmpeg reports errors on while
//!   scanning (truncated, damaged) is refused here, before any frame is rendered.
//! - [`Decoder`]: frame `n` (numbered from 1, in presentation order) as raw interleaved RGB(A),
//!   8 or 16 bits per sample. Frames stream from one `ffmpeg` process; a request behind the
//!   stream or far ahead of it restarts `ffmpeg` with a seek to the middle between the previous
//!   frame's time and the wanted one (FFmpeg's accurate seek then drops every earlier frame), so
//!   random access returns exactly what a sequential decode returns. Memory: one frame.
//! - [`Encoder`]: frames in, a video file out (H.264/H.265 MP4, ProRes MOV, VP9 WebM, AV1, FFV1,
//!   or any encoder the installed FFmpeg has), with CRF/profile/preset/pixel format/fps, BT.709
//!   tags, audio copied from a named source, written to a hidden temp name beside the target and
//!   renamed when complete.
//!
//! FFmpeg is found as `ffmpeg`/`ffprobe` on `PATH`, or at `$WICK_FFMPEG` / `$WICK_FFPROBE`.
//! Decoded RGB is the file's colour encoded as FFmpeg converts it (the file's matrix tag, BT.601
//! when untagged), treated as sRGB-encoded with straight alpha, as PNG frames are.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// An error about one file (or the FFmpeg tools), with a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoError {
    pub path: PathBuf,
    pub msg: String,
}

impl std::fmt::Display for VideoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.msg)
    }
}

impl std::error::Error for VideoError {}

pub type Result<T> = std::result::Result<T, VideoError>;

fn err(path: &Path, msg: impl Into<String>) -> VideoError {
    VideoError {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// The `ffmpeg` program: `$WICK_FFMPEG`, else `ffmpeg` on `PATH`.
pub fn ffmpeg_program() -> OsString {
    std::env::var_os("WICK_FFMPEG").unwrap_or_else(|| "ffmpeg".into())
}

/// The `ffprobe` program: `$WICK_FFPROBE`, else `ffprobe` on `PATH`.
pub fn ffprobe_program() -> OsString {
    std::env::var_os("WICK_FFPROBE").unwrap_or_else(|| "ffprobe".into())
}

fn spawn(mut cmd: Command, what: &str, path: &Path) -> Result<Child> {
    // A process group of its own: Ctrl-C in the terminal reaches Wick (which cancels cleanly
    // and stops its children) but not FFmpeg, which would otherwise end its stream mid-frame.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            err(
                path,
                format!(
                    "FFmpeg's `{what}` was not found (needed for video files): install FFmpeg \
                     (./scripts/setup.sh, or apt-get install ffmpeg) or set $WICK_{}",
                    what.to_ascii_uppercase()
                ),
            )
        } else {
            err(path, format!("cannot start {what}: {e}"))
        }
    })
}

/// Runs a tool to completion: (stdout, stderr, success).
fn run_tool(
    program: OsString,
    what: &str,
    args: &[OsString],
    path: &Path,
) -> Result<(String, String, bool)> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn(cmd, what, path)?;
    let out = child
        .wait_with_output()
        .map_err(|e| err(path, format!("{what} failed: {e}")))?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    ))
}

/// File extensions treated as video (read and written through FFmpeg).
pub const VIDEO_EXTENSIONS: [&str; 19] = [
    "mp4", "mov", "m4v", "mkv", "webm", "avi", "mxf", "mpg", "mpeg", "ts", "mts", "m2ts", "flv",
    "wmv", "ogv", "3gp", "gif", "y4m", "nut",
];

/// Whether `path` names a video file (by its extension).
pub fn is_video_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn strip_endian(name: &str) -> &str {
    name.strip_suffix("le")
        .or_else(|| name.strip_suffix("be"))
        .unwrap_or(name)
}

/// Whether an FFmpeg pixel format holds more than 8 bits per component (e.g. `yuv422p10le`,
/// `p010le`, `rgb48le`, `gbrpf32le`).
pub fn pix_fmt_is_deep(name: &str) -> bool {
    let n = strip_endian(name);
    if [
        "p01", "p21", "p41", "y21", "xv3", "x2r", "x2b", "v30", "nv20", "ayuv64",
    ]
    .iter()
    .any(|p| n.starts_with(p))
        || ["f32", "f16", "48", "64"].iter().any(|s| n.contains(s))
    {
        return true;
    }
    let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return false;
    }
    let (head, tail) = n.split_at(n.len() - digits);
    let bits: u32 = tail.parse().unwrap_or(0);
    (9..=16).contains(&bits)
        && (head.ends_with('p') || head == "gray" || head == "ya" || head.ends_with("gbrap"))
}

/// Whether an FFmpeg pixel format carries alpha (`yuva*`, `gbrap*`, `rgba`, `ya8`, `pal8`, ...).
pub fn pix_fmt_has_alpha(name: &str) -> bool {
    let n = strip_endian(name);
    n.starts_with("yuva")
        || n.starts_with("gbrap")
        || n.starts_with("ya")
        || n == "pal8"
        || ["rgba", "bgra", "argb", "abgr", "ayuv", "vuya"]
            .iter()
            .any(|s| n.contains(s))
}

fn pix_fmt_is_subsampled(name: &str) -> bool {
    let n = strip_endian(name);
    [
        "420", "422", "411", "410", "440", "nv1", "nv2", "p01", "p21", "y21", "uyvy", "yuyv",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The raw frame layout crossing the pipe: 8 or 16 bits per sample (native endian), RGB or RGBA,
/// rows tightly packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// 16 bits per sample (else 8).
    pub deep: bool,
    /// RGBA (else RGB).
    pub alpha: bool,
}

impl Layout {
    pub fn channels(&self) -> usize {
        if self.alpha {
            4
        } else {
            3
        }
    }
    pub fn bytes_per_sample(&self) -> usize {
        if self.deep {
            2
        } else {
            1
        }
    }
    /// Bytes of one `w`×`h` frame.
    pub fn frame_bytes(&self, w: u32, h: u32) -> usize {
        w as usize * h as usize * self.channels() * self.bytes_per_sample()
    }
    /// The FFmpeg pixel format of this layout.
    pub fn ffmpeg_pix_fmt(&self) -> &'static str {
        let le = cfg!(target_endian = "little");
        match (self.deep, self.alpha) {
            (false, false) => "rgb24",
            (false, true) => "rgba",
            (true, false) if le => "rgb48le",
            (true, false) => "rgb48be",
            (true, true) if le => "rgba64le",
            (true, true) => "rgba64be",
        }
    }
}

/// What [`probe`] learns about a video file.
#[derive(Clone, Debug)]
pub struct Info {
    pub width: u32,
    pub height: u32,
    /// Frame rate as a fraction (the stream's average rate, else its base rate).
    pub fps_num: u32,
    pub fps_den: u32,
    /// Number of frames (packets of the video stream that decode to a shown frame).
    pub frames: usize,
    /// The video codec, e.g. `h264`, `prores`.
    pub codec: String,
    /// The decoder's pixel format, e.g. `yuv420p`, `yuv422p10le`.
    pub pix_fmt: String,
    /// The layout that keeps the file's precision and alpha.
    pub layout: Layout,
    /// The first audio stream's codec, if any.
    pub audio_codec: Option<String>,
    /// Index of the video stream in the file.
    pub stream: usize,
    /// Presentation time of each frame in seconds from the file's start (FFmpeg's `-ss`
    /// origin), ascending; empty when the container stores no timestamps (seeks then decode
    /// from the start).
    pub times: Vec<f64>,
    /// The Y'CbCr matrix decoding assumes for an untagged file where FFmpeg's default (BT.601)
    /// is wrong: `bt709` for untagged HD; `None`: the file's tag (or FFmpeg's default).
    pub in_matrix: Option<String>,
}

impl Info {
    pub fn fps(&self) -> f64 {
        self.fps_num as f64 / self.fps_den.max(1) as f64
    }
}

fn parse_rational(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/').unwrap_or((s, "1"));
    let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && b > 0).then_some((a, b))
}

/// `key=value` lines of ffprobe's `flat` writer, values unquoted.
fn flat_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// First lines of a tool's stderr, for an error message.
fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut s = lines
        .iter()
        .take(n)
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > n {
        s.push_str(&format!(" (+{} more lines)", lines.len() - n));
    }
    s
}

fn stream_field<'a>(pairs: &'a [(String, String)], idx: usize, field: &str) -> Option<&'a str> {
    let key = format!("streams.stream.{idx}.{field}");
    pairs
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

/// Probes a video file: streams, frame rate and the time of every frame. Errors name the path:
/// missing file, not a video, no video stream, or a file FFmpeg reports as damaged/truncated.
pub fn probe(path: &Path) -> Result<Info> {
    let meta = std::fs::metadata(path).map_err(|e| err(path, format!("cannot read video: {e}")))?;
    if !meta.is_file() {
        return Err(err(path, "not a file"));
    }
    let args: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        "-show_entries".into(),
        "format=start_time:stream=index,codec_type,codec_name,width,height,pix_fmt,r_frame_rate,\
         avg_frame_rate,time_base,color_space:stream_disposition=attached_pic:stream_tags=rotate:\
         stream_side_data=rotation"
            .into(),
        "-of".into(),
        "flat".into(),
        path.as_os_str().into(),
    ];
    let (out, stderr, ok) = run_tool(ffprobe_program(), "ffprobe", &args, path)?;
    if !ok {
        let why = first_lines(&stderr, 3);
        return Err(err(
            path,
            format!(
                "not a readable video ({})",
                if why.is_empty() {
                    "ffprobe failed"
                } else {
                    &why
                }
            ),
        ));
    }
    let pairs = flat_pairs(&out);
    let n_streams = pairs
        .iter()
        .filter(|(k, _)| k.starts_with("streams.stream.") && k.ends_with(".index"))
        .count();
    let mut video = None;
    let mut audio_codec = None;
    for i in 0..n_streams {
        let ty = stream_field(&pairs, i, "codec_type").unwrap_or("");
        let pic = stream_field(&pairs, i, "disposition.attached_pic") == Some("1");
        if ty == "video" && !pic && video.is_none() {
            video = Some(i);
        }
        if ty == "audio" && audio_codec.is_none() {
            audio_codec = stream_field(&pairs, i, "codec_name").map(str::to_string);
        }
    }
    let v = video.ok_or_else(|| err(path, "no video stream in the file"))?;
    let num = |f: &str| stream_field(&pairs, v, f).and_then(|s| s.parse::<u32>().ok());
    let (mut width, mut height) = match (num("width"), num("height")) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(err(path, "the video stream has no frame size (damaged?)")),
    };
    // Phone footage: FFmpeg rotates frames by the display matrix when decoding.
    let rotation = pairs
        .iter()
        .find(|(k, _)| {
            k.starts_with(&format!("streams.stream.{v}."))
                && (k.ends_with(".rotation") || k.ends_with("tags.rotate"))
        })
        .and_then(|(_, val)| val.parse::<f64>().ok())
        .unwrap_or(0.0);
    if ((rotation.abs() / 90.0).round() as i64) % 2 == 1 {
        std::mem::swap(&mut width, &mut height);
    }
    let (fps_num, fps_den) = stream_field(&pairs, v, "avg_frame_rate")
        .and_then(parse_rational)
        .or_else(|| stream_field(&pairs, v, "r_frame_rate").and_then(parse_rational))
        .unwrap_or((24, 1));
    let codec = stream_field(&pairs, v, "codec_name")
        .unwrap_or("")
        .to_string();
    let pix_fmt = stream_field(&pairs, v, "pix_fmt").unwrap_or("").to_string();
    // Untagged Y'CbCr: FFmpeg converts with BT.601; HD material is BT.709 (as players assume).
    let untagged = matches!(
        stream_field(&pairs, v, "color_space"),
        None | Some("unknown") | Some("") | Some("reserved")
    );
    let rgb_coded = [
        "rgb", "bgr", "gbr", "0rgb", "argb", "abgr", "pal", "gray", "ya",
    ]
    .iter()
    .any(|p| pix_fmt.starts_with(p));
    let in_matrix =
        (untagged && !rgb_coded && (width >= 1280 || height > 576)).then(|| "bt709".to_string());
    let (tb_num, tb_den) = stream_field(&pairs, v, "time_base")
        .and_then(parse_rational)
        .unwrap_or((1, 1));
    let start = pairs
        .iter()
        .find(|(k, _)| k == "format.start_time")
        .and_then(|(_, s)| s.parse::<f64>().ok())
        .unwrap_or(0.0);
    let stream = stream_field(&pairs, v, "index")
        .and_then(|s| s.parse().ok())
        .unwrap_or(v);

    // Packet scan of the video stream: frame count, timestamps, and damage.
    let args: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        "-select_streams".into(),
        stream.to_string().into(),
        "-show_entries".into(),
        "packet=pts,dts,flags".into(),
        "-of".into(),
        "csv=p=0".into(),
        path.as_os_str().into(),
    ];
    let (out, stderr, ok) = run_tool(ffprobe_program(), "ffprobe", &args, path)?;
    if !ok || !stderr.trim().is_empty() {
        return Err(err(
            path,
            format!(
                "the video is damaged or truncated (FFmpeg: {})",
                first_lines(&stderr, 3)
            ),
        ));
    }
    let mut stamps: Vec<Option<i64>> = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.len() < 3 {
            continue;
        }
        if f[2].as_bytes().get(1) == Some(&b'D') {
            continue; // discarded (outside the edit list)
        }
        // Presentation stamps only: a container that stores decode stamps alone (AVI) gets
        // no timestamps, and its seeks decode forward from the start (exact, slower).
        stamps.push(f[0].parse::<i64>().ok());
    }
    if stamps.is_empty() {
        return Err(err(path, "the video stream has no frames"));
    }
    let frames = stamps.len();
    let times = if stamps.iter().all(Option::is_some) {
        let mut t: Vec<i64> = stamps.into_iter().flatten().collect();
        t.sort_unstable();
        t.dedup();
        if t.len() == frames {
            t.iter()
                .map(|&x| x as f64 * tb_num as f64 / tb_den as f64 - start)
                .collect()
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    };
    let layout = Layout {
        deep: pix_fmt_is_deep(&pix_fmt),
        alpha: pix_fmt_has_alpha(&pix_fmt),
    };
    Ok(Info {
        width,
        height,
        fps_num,
        fps_den,
        frames,
        codec,
        pix_fmt,
        layout,
        audio_codec,
        stream,
        times,
        in_matrix,
    })
}

/// The first audio stream's codec of a media file (`None`: no audio).
pub fn audio_codec(path: &Path) -> Result<Option<String>> {
    std::fs::metadata(path).map_err(|e| err(path, format!("cannot read audio source: {e}")))?;
    let args: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        "-select_streams".into(),
        "a:0".into(),
        "-show_entries".into(),
        "stream=codec_name".into(),
        "-of".into(),
        "csv=p=0".into(),
        path.as_os_str().into(),
    ];
    let (out, stderr, ok) = run_tool(ffprobe_program(), "ffprobe", &args, path)?;
    if !ok {
        return Err(err(
            path,
            format!("not a readable media file ({})", first_lines(&stderr, 2)),
        ));
    }
    Ok(out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|s| s.trim_end_matches(',').to_string()))
}

/// FFmpeg's version (major, minor); `None` for builds that do not say (git snapshots).
fn ffmpeg_version() -> Option<(u32, u32)> {
    static V: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *V.get_or_init(|| {
        let out = Command::new(ffmpeg_program())
            .arg("-version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text.split_whitespace().nth(2)?;
        let v = v.trim_start_matches('n');
        let mut it = v.split(|c: char| !c.is_ascii_digit());
        Some((it.next()?.parse().ok()?, it.next()?.parse().unwrap_or(0)))
    })
}

/// `-fps_mode passthrough` (FFmpeg ≥ 5.1) or its older spelling: every decoded frame once, no
/// duplicates or drops to a constant rate.
fn passthrough_args() -> [&'static str; 2] {
    match ffmpeg_version() {
        Some(v) if v < (5, 1) => ["-vsync", "passthrough"],
        _ => ["-fps_mode", "passthrough"],
    }
}

/// Keeps the tail of a child's stderr (read on a thread, so the pipe never blocks the child).
struct StderrTail {
    text: Arc<Mutex<String>>,
    thread: Option<JoinHandle<()>>,
}

impl StderrTail {
    fn new(child: &mut Child) -> StderrTail {
        let text = Arc::new(Mutex::new(String::new()));
        let thread = child.stderr.take().map(|mut e| {
            let t = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = t.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                        if s.len() > 16384 {
                            let cut = s.len() - 8192;
                            let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                            s.drain(..cut);
                        }
                    }
                }
            })
        });
        StderrTail { text, thread }
    }
    /// Waits for the reader (the child has exited) and returns the text.
    fn finish(&mut self) -> String {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.text.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

struct Running {
    child: Child,
    out: ChildStdout,
    err: StderrTail,
}

impl Running {
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.err.finish();
    }
}

/// Streams frames of a video file, frame `n` numbered from 1 in presentation order.
pub struct Decoder {
    path: PathBuf,
    info: Info,
    layout: Layout,
    run: Option<Running>,
    /// The number of the frame the running process yields next.
    next: usize,
    starts: usize,
}

/// A request at most this many frames ahead of the stream decodes forward instead of seeking.
const MAX_SKIP: usize = 48;

impl Decoder {
    /// Opens a video in the layout that keeps its precision and alpha.
    pub fn open(path: &Path) -> Result<Decoder> {
        let info = probe(path)?;
        let layout = info.layout;
        Ok(Decoder::with_info(path, info, layout))
    }

    /// Opens a video in a chosen layout.
    pub fn open_as(path: &Path, layout: Layout) -> Result<Decoder> {
        Ok(Decoder::with_info(path, probe(path)?, layout))
    }

    /// A decoder for an already probed file.
    pub fn with_info(path: &Path, info: Info, layout: Layout) -> Decoder {
        Decoder {
            path: path.to_path_buf(),
            info,
            layout,
            run: None,
            next: 1,
            starts: 0,
        }
    }

    pub fn info(&self) -> &Info {
        &self.info
    }
    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// How many times an `ffmpeg` process was started (1 for a sequential read).
    pub fn starts(&self) -> usize {
        self.starts
    }
    /// The frame a [`Decoder::read`] gets without restarting `ffmpeg` (the running stream's
    /// next frame); `None` before the first read or after an error.
    pub fn streaming_at(&self) -> Option<usize> {
        self.run.as_ref().map(|_| self.next)
    }
    /// Whether reading frame `n` continues the running stream (no restart).
    pub fn continues(&self, n: usize) -> bool {
        self.run.is_some() && n >= self.next && n - self.next <= MAX_SKIP
    }

    /// Bytes of one frame.
    pub fn frame_bytes(&self) -> usize {
        self.layout.frame_bytes(self.info.width, self.info.height)
    }

    /// Frame `n` (1 ..= frames) as raw interleaved samples in [`Decoder::layout`].
    pub fn read(&mut self, n: usize) -> Result<Vec<u8>> {
        if n < 1 || n > self.info.frames {
            return Err(err(
                &self.path,
                format!(
                    "frame {n} is outside the video (frames 1-{})",
                    self.info.frames
                ),
            ));
        }
        if !self.continues(n) {
            self.start(n)?;
        }
        let mut buf = vec![0u8; self.frame_bytes()];
        while self.next <= n {
            self.read_one(&mut buf)?;
        }
        Ok(buf)
    }

    fn read_one(&mut self, buf: &mut [u8]) -> Result<()> {
        let run = self.run.as_mut().expect("running");
        match run.out.read_exact(buf) {
            Ok(()) => {
                self.next += 1;
                Ok(())
            }
            Err(e) => {
                let mut run = self.run.take().expect("running");
                let status = run.child.wait();
                let text = run.err.finish();
                let why = if !text.trim().is_empty() {
                    format!("FFmpeg: {}", first_lines(&text, 3))
                } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "the stream ended early: truncated or damaged".into()
                } else {
                    format!("{e}")
                };
                let status = status.map(|s| format!(", ffmpeg {s}")).unwrap_or_default();
                Err(err(
                    &self.path,
                    format!(
                        "decoding failed at frame {} of {} ({why}{status})",
                        self.next, self.info.frames
                    ),
                ))
            }
        }
    }

    /// (Re)starts `ffmpeg` so that it yields frame `n` first (or frame 1, when the file has no
    /// timestamps: `read` then decodes forward).
    fn start(&mut self, n: usize) -> Result<()> {
        if let Some(r) = self.run.take() {
            r.stop();
        }
        let mut args: Vec<OsString> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-xerror"]
            .iter()
            .map(OsString::from)
            .collect();
        let seek = n > 1 && self.info.times.len() == self.info.frames;
        if seek {
            // Half way between the previous frame and this one: robust to rounding either way.
            let t = 0.5 * (self.info.times[n - 2] + self.info.times[n - 1]);
            args.push("-ss".into());
            args.push(format!("{:.6}", t.max(0.0)).into());
        }
        args.push("-i".into());
        args.push(self.path.as_os_str().into());
        for a in [
            "-map".to_string(),
            format!("0:{}", self.info.stream),
            "-an".into(),
            "-sn".into(),
            "-dn".into(),
            "-sws_flags".into(),
            "accurate_rnd+full_chroma_int".into(),
        ] {
            args.push(a.into());
        }
        if let Some(m) = &self.info.in_matrix {
            args.push("-vf".into());
            args.push(
                format!("scale=in_color_matrix={m}:flags=accurate_rnd+full_chroma_int").into(),
            );
        }
        for a in passthrough_args() {
            args.push(a.into());
        }
        for a in [
            "-f",
            "rawvideo",
            "-pix_fmt",
            self.layout.ffmpeg_pix_fmt(),
            "pipe:1",
        ] {
            args.push(a.into());
        }
        let mut cmd = Command::new(ffmpeg_program());
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd, "ffmpeg", &self.path)?;
        let err_tail = StderrTail::new(&mut child);
        let out = child.stdout.take().expect("piped stdout");
        self.run = Some(Running {
            child,
            out,
            err: err_tail,
        });
        self.next = if seek { n } else { 1 };
        self.starts += 1;
        Ok(())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if let Some(r) = self.run.take() {
            r.stop();
        }
    }
}

/// Where the audio of a written video comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioSource {
    /// A media file with an audio stream (its first is used).
    pub path: PathBuf,
    /// Seconds into it at which the video's first frame starts.
    pub start: f64,
}

/// Encoding settings of a written video; `None` = the container's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodeSettings {
    /// `h264`, `h265`/`hevc`, `prores`, `vp9`, `av1`, `ffv1`, or any FFmpeg encoder name.
    pub codec: Option<String>,
    /// Constant rate factor (x264, x265, VP9, AV1): lower is better; x264's 18 is visually
    /// lossless for most material.
    pub crf: Option<f64>,
    /// Encoder speed preset (x264/x265: `ultrafast` ... `veryslow`; SVT-AV1: 0-13).
    pub preset: Option<String>,
    /// Codec profile (ProRes: `proxy`, `lt`, `standard`, `hq`, `4444`, `4444xq`; H.264:
    /// `baseline`, `main`, `high`, ...).
    pub profile: Option<String>,
    /// FFmpeg pixel format of the file, e.g. `yuv420p`, `yuv422p10le`, `yuva444p10le`.
    pub pix_fmt: Option<String>,
    /// Frames per second.
    pub fps: f64,
    /// Audio copied (or re-encoded when the container cannot hold it) from a source.
    pub audio: Option<AudioSource>,
    /// Extra FFmpeg output options, appended last (e.g. `["-tune", "film"]`).
    pub args: Vec<String>,
}

/// The encoders of the installed FFmpeg.
fn encoders(path: &Path) -> Result<&'static [String]> {
    static E: OnceLock<std::result::Result<Vec<String>, VideoError>> = OnceLock::new();
    E.get_or_init(|| {
        let args: Vec<OsString> = vec!["-hide_banner".into(), "-encoders".into()];
        let (out, _, _) = run_tool(ffmpeg_program(), "ffmpeg", &args, path)?;
        let mut names = Vec::new();
        let mut body = false;
        for l in out.lines() {
            if l.trim_start().starts_with("------") {
                body = true;
                continue;
            }
            if body {
                if let Some(name) = l.split_whitespace().nth(1) {
                    names.push(name.to_string());
                }
            }
        }
        Ok(names)
    })
    .as_ref()
    .map(|v| v.as_slice())
    .map_err(Clone::clone)
}

/// How a video will be encoded: resolved from the file type and [`EncodeSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The FFmpeg encoder (`None`: FFmpeg's default for the container).
    pub encoder: Option<String>,
    /// The file's pixel format (`None`: the encoder's default).
    pub pix_fmt: Option<String>,
    /// The layout frames must be given in.
    pub layout: Layout,
    codec_args: Vec<String>,
}

fn ext_of(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Resolves the encoder, pixel format and codec options for writing `path`, checking that the
/// installed FFmpeg has the encoder and that each setting applies to it.
pub fn plan(path: &Path, s: &EncodeSettings) -> Result<Plan> {
    if !is_video_path(path) {
        return Err(err(
            path,
            format!(
                "not a video file type (use one of .{})",
                VIDEO_EXTENSIONS.join(", .")
            ),
        ));
    }
    if !(s.fps.is_finite() && s.fps > 0.0 && s.fps <= 1000.0) {
        return Err(err(
            path,
            format!("fps must be in (0, 1000], got {}", s.fps),
        ));
    }
    let ext = ext_of(path);
    let have = encoders(path)?;
    let pick = |cands: &[&str]| -> Option<String> {
        cands
            .iter()
            .find(|c| have.iter().any(|h| h == *c))
            .map(|c| c.to_string())
    };
    let wanted: Option<Vec<&str>> = match s.codec.as_deref().map(str::to_ascii_lowercase) {
        None => match ext.as_str() {
            "mp4" | "m4v" | "mkv" | "3gp" => Some(vec!["libx264", "libopenh264", "mpeg4"]),
            "mov" => Some(vec!["prores_ks", "prores"]),
            "webm" => Some(vec!["libvpx-vp9", "libvpx"]),
            "avi" => Some(vec!["mpeg4"]),
            _ => None,
        },
        Some(c) => Some(match c.as_str() {
            "h264" | "avc" | "x264" => vec!["libx264", "libopenh264"],
            "h265" | "hevc" | "x265" => vec!["libx265"],
            "prores" => vec!["prores_ks", "prores"],
            "vp9" => vec!["libvpx-vp9"],
            "vp8" => vec!["libvpx"],
            "av1" => vec!["libsvtav1", "libaom-av1", "librav1e"],
            _ => vec![s.codec.as_deref().unwrap_or("")],
        }),
    };
    let encoder = match wanted {
        None => None,
        Some(c) => Some(pick(&c).ok_or_else(|| {
            err(
                path,
                format!(
                    "the installed FFmpeg has no encoder for codec '{}' (tried {})",
                    s.codec.as_deref().unwrap_or(&ext),
                    c.join(", ")
                ),
            )
        })?),
    };
    let enc = encoder.as_deref().unwrap_or("");
    let prores = enc.starts_with("prores");
    let prores_alpha = prores
        && matches!(
            s.profile.as_deref(),
            Some("4444") | Some("4444xq") | Some("4") | Some("5")
        );
    let pix_fmt = match (&s.pix_fmt, enc) {
        (Some(p), _) => Some(p.clone()),
        (None, _) if prores_alpha => Some("yuva444p10le".into()),
        (None, _) if prores => Some("yuv422p10le".into()),
        (None, "ffv1") => Some("bgr0".into()),
        (None, "mjpeg") => Some("yuvj420p".into()),
        (None, "") => None,
        (None, _) => Some("yuv420p".into()),
    };
    let mut a: Vec<String> = Vec::new();
    if let Some(e) = &encoder {
        a.extend(["-c:v".into(), e.clone()]);
    }
    let crf_ok = matches!(
        enc,
        "libx264" | "libx265" | "libvpx-vp9" | "libvpx" | "libsvtav1" | "libaom-av1"
    );
    if let Some(c) = s.crf {
        if !crf_ok {
            return Err(err(
                path,
                format!(
                    "crf does not apply to encoder '{}' (x264, x265, VP9, AV1 only{})",
                    if enc.is_empty() { "default" } else { enc },
                    if prores {
                        "; ProRes quality is set by profile"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if !(c.is_finite() && (0.0..=63.0).contains(&c)) {
            return Err(err(path, format!("crf must be 0..63, got {c}")));
        }
    }
    let crf = |d: f64| format!("{}", s.crf.unwrap_or(d));
    match enc {
        "libx264" => {
            a.extend(["-crf".into(), crf(18.0)]);
            a.extend([
                "-preset".into(),
                s.preset.clone().unwrap_or("medium".into()),
            ]);
        }
        "libx265" => {
            a.extend(["-crf".into(), crf(20.0)]);
            a.extend([
                "-preset".into(),
                s.preset.clone().unwrap_or("medium".into()),
            ]);
            a.extend(["-x265-params".into(), "log-level=error".into()]);
            if matches!(ext.as_str(), "mp4" | "mov" | "m4v") {
                a.extend(["-tag:v".into(), "hvc1".into()]);
            }
        }
        "libvpx-vp9" | "libvpx" => {
            a.extend(["-crf".into(), crf(31.0), "-b:v".into(), "0".into()]);
            a.extend(["-deadline".into(), "good".into(), "-cpu-used".into()]);
            a.push(s.preset.clone().unwrap_or("4".into()));
            a.extend(["-row-mt".into(), "1".into()]);
        }
        "libsvtav1" => {
            a.extend(["-crf".into(), crf(35.0)]);
            a.extend(["-preset".into(), s.preset.clone().unwrap_or("8".into())]);
        }
        "libaom-av1" => {
            a.extend(["-crf".into(), crf(30.0), "-b:v".into(), "0".into()]);
            a.extend(["-cpu-used".into(), s.preset.clone().unwrap_or("6".into())]);
        }
        "prores_ks" | "prores" => {
            let p = s.profile.clone().unwrap_or("hq".into());
            let ok = [
                "proxy", "lt", "standard", "hq", "4444", "4444xq", "0", "1", "2", "3", "4", "5",
            ];
            if !ok.contains(&p.as_str()) {
                return Err(err(
                    path,
                    format!("ProRes profile '{p}' is not one of {}", ok[..6].join(", ")),
                ));
            }
            let p = match p.as_str() {
                "proxy" => "0",
                "lt" => "1",
                "standard" => "2",
                "hq" => "3",
                "4444" => "4",
                "4444xq" => "5",
                n => n,
            };
            a.extend([
                "-profile:v".into(),
                p.into(),
                "-vendor".into(),
                "apl0".into(),
            ]);
        }
        "mpeg4" | "mjpeg" => a.extend(["-q:v".into(), "2".into()]),
        _ => {}
    }
    if let (Some(p), false) = (&s.profile, prores) {
        a.extend(["-profile:v".into(), p.clone()]);
    }
    if let (Some(p), false) = (&s.preset, crf_ok) {
        return Err(err(
            path,
            format!(
                "preset '{p}' applies to x264, x265, VP9 and AV1 only, not '{}'",
                if enc.is_empty() { "default" } else { enc }
            ),
        ));
    }
    let layout = match &pix_fmt {
        Some(p) => Layout {
            deep: pix_fmt_is_deep(p),
            alpha: pix_fmt_has_alpha(p),
        },
        None => Layout {
            deep: false,
            alpha: ext == "gif",
        },
    };
    Ok(Plan {
        encoder,
        pix_fmt,
        layout,
        codec_args: a,
    })
}

/// A frame rate as FFmpeg's rational text: NTSC rates exactly (30000/1001), else 1/1000ths.
pub fn fps_text(fps: f64) -> String {
    for base in [24.0, 30.0, 48.0, 60.0, 120.0] {
        let ntsc = base * 1000.0 / 1001.0;
        if (fps - ntsc).abs() < 1e-3 {
            return format!("{}/1001", base as u32 * 1000);
        }
    }
    if (fps - fps.round()).abs() < 1e-9 {
        return format!("{}", fps.round() as u64);
    }
    format!("{}/1000", (fps * 1000.0).round() as u64)
}

/// Whether a container can hold `codec` audio as it is (else it is re-encoded).
fn audio_copyable(ext: &str, codec: &str) -> bool {
    match ext {
        "mkv" | "nut" => true,
        "mp4" | "m4v" => ["aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"].contains(&codec),
        "mov" => {
            ["aac", "mp3", "ac3", "eac3", "alac"].contains(&codec) || codec.starts_with("pcm_")
        }
        "webm" => ["opus", "vorbis"].contains(&codec),
        "avi" => ["mp3", "ac3", "pcm_s16le"].contains(&codec),
        _ => false,
    }
}

/// Writes frames into a video file through `ffmpeg`; the file appears (renamed from a hidden
/// temp name in the same folder) only when [`Encoder::finish`] succeeds. Dropped unfinished,
/// the encoder stops `ffmpeg` and removes the temp file.
pub struct Encoder {
    path: PathBuf,
    tmp: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    err: StderrTail,
    width: u32,
    height: u32,
    layout: Layout,
    frames: usize,
}

impl Encoder {
    /// Starts encoding `width`×`height` frames into `path`. `expected_frames` (when known)
    /// bounds the copied audio to the video's length.
    pub fn start(
        path: &Path,
        s: &EncodeSettings,
        width: u32,
        height: u32,
        expected_frames: Option<usize>,
    ) -> Result<Encoder> {
        let plan = plan(path, s)?;
        if width == 0 || height == 0 || width > 32768 || height > 32768 {
            return Err(err(path, format!("bad frame size {width}x{height}")));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(dir, format!("cannot create folder: {e}")))?;
        }
        let ext = ext_of(path);
        // The one temp-name scheme of Wick's atomic writes (it keeps the extension FFmpeg
        // picks the container from).
        let tmp = wick_common::fs::temp_name(path);
        let mut args: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "-f".into(),
            "rawvideo".into(),
            "-pix_fmt".into(),
            plan.layout.ffmpeg_pix_fmt().into(),
            "-s".into(),
            format!("{width}x{height}"),
            "-framerate".into(),
            fps_text(s.fps),
            "-i".into(),
            "pipe:0".into(),
        ]);
        let mut audio_map = Vec::new();
        if let Some(a) = &s.audio {
            let codec =
                audio_codec(&a.path)?.ok_or_else(|| err(&a.path, "has no audio stream to copy"))?;
            if !(a.start.is_finite() && a.start >= 0.0) {
                return Err(err(&a.path, format!("bad audio start {}", a.start)));
            }
            if a.start > 0.0 {
                args.extend(["-ss".into(), format!("{:.6}", a.start)]);
            }
            if let Some(n) = expected_frames {
                args.extend(["-t".into(), format!("{:.6}", n as f64 / s.fps)]);
            }
            args.extend(["-i".into(), a.path.to_string_lossy().into_owned()]);
            audio_map.extend(["-map".to_string(), "1:a:0".into()]);
            if audio_copyable(&ext, &codec) {
                audio_map.extend(["-c:a".into(), "copy".into()]);
            } else if ext == "webm" {
                audio_map.extend([
                    "-c:a".into(),
                    "libopus".into(),
                    "-b:a".into(),
                    "160k".into(),
                ]);
            } else {
                audio_map.extend(["-c:a".into(), "aac".into(), "-b:a".into(), "192k".into()]);
            }
        }
        args.extend(["-map".into(), "0:v:0".into()]);
        args.extend(audio_map);
        args.extend(plan.codec_args.iter().cloned());
        let mut filters = Vec::new();
        if let Some(p) = &plan.pix_fmt {
            if pix_fmt_is_subsampled(p) && (width % 2 == 1 || height % 2 == 1) {
                // 4:2:0 / 4:2:2 need even sizes: repeat the last row/column.
                filters.push(format!(
                    "pad={}:{}:0:0,fillborders=right={}:bottom={}:mode=smear",
                    width + width % 2,
                    height + height % 2,
                    width % 2,
                    height % 2
                ));
            }
            let rgb = p.starts_with("rgb")
                || p.starts_with("bgr")
                || p.starts_with("gbr")
                || p.starts_with("0rgb")
                || p.starts_with("pal");
            if !rgb {
                let range = if p.starts_with("yuvj") { "pc" } else { "tv" };
                // The matrix for the conversion, then the same as frame properties: some
                // encoders (ProRes) write the frame's tags, others the stream options below.
                filters.push(format!(
                    "scale=out_color_matrix=bt709:out_range={range}:flags=accurate_rnd+full_chroma_int,\
                     format={p},setparams=range={range}:colorspace=bt709:color_primaries=bt709:\
                     color_trc=bt709"
                ));
                args.extend([
                    "-colorspace".into(),
                    "bt709".into(),
                    "-color_primaries".into(),
                    "bt709".into(),
                    "-color_trc".into(),
                    "bt709".into(),
                    "-color_range".into(),
                    range.into(),
                ]);
            }
            if rgb {
                filters.push(format!("format={p}"));
            }
            args.extend(["-pix_fmt".into(), p.clone()]);
        }
        if !filters.is_empty() {
            args.extend(["-vf".into(), filters.join(",")]);
        }
        if matches!(ext.as_str(), "mp4" | "mov" | "m4v") {
            args.extend(["-movflags".into(), "+faststart".into()]);
        }
        args.extend(s.args.iter().cloned());
        args.push(tmp.to_string_lossy().into_owned());
        let mut cmd = Command::new(ffmpeg_program());
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd, "ffmpeg", path)?;
        let err_tail = StderrTail::new(&mut child);
        let stdin = child.stdin.take();
        Ok(Encoder {
            path: path.to_path_buf(),
            tmp,
            child: Some(child),
            stdin,
            err: err_tail,
            width,
            height,
            layout: plan.layout,
            frames: 0,
        })
    }

    /// The layout [`Encoder::write`] takes.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    /// Frames written so far.
    pub fn frames(&self) -> usize {
        self.frames
    }
    /// The file this encoder writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one frame (raw interleaved samples in [`Encoder::layout`], rows packed).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let want = self.layout.frame_bytes(self.width, self.height);
        if data.len() != want {
            return Err(err(
                &self.path,
                format!(
                    "frame of {} bytes given, {want} expected ({}x{} {})",
                    data.len(),
                    self.width,
                    self.height,
                    self.layout.ffmpeg_pix_fmt()
                ),
            ));
        }
        let r = match self.stdin.as_mut() {
            Some(w) => w.write_all(data),
            None => Err(std::io::Error::other("encoder already closed")),
        };
        if let Err(e) = r {
            return Err(self.failure(&format!("writing frame {}: {e}", self.frames + 1)));
        }
        self.frames += 1;
        Ok(())
    }

    /// Stops ffmpeg, removes the temp file and returns an error with ffmpeg's message.
    fn failure(&mut self, what: &str) -> VideoError {
        self.stdin = None;
        let mut status = String::new();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            if let Ok(s) = c.wait() {
                status = format!(", ffmpeg {s}");
            }
        }
        let text = self.err.finish();
        let _ = std::fs::remove_file(&self.tmp);
        err(
            &self.path,
            format!(
                "encoding failed: {what}{status}{}",
                if text.trim().is_empty() {
                    String::new()
                } else {
                    format!(" (FFmpeg: {})", first_lines(&text, 4))
                }
            ),
        )
    }

    /// Closes the stream, waits for `ffmpeg` and renames the finished file into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.frames == 0 {
            let e = self.failure("no frames were written");
            return Err(e);
        }
        self.stdin = None; // EOF for ffmpeg
        let status = self.child.as_mut().map(|c| c.wait());
        let text = self.err.finish();
        self.child = None;
        match status {
            Some(Ok(s)) if s.success() => {}
            other => {
                let _ = std::fs::remove_file(&self.tmp);
                let st = match other {
                    Some(Ok(s)) => format!("ffmpeg {s}"),
                    Some(Err(e)) => format!("{e}"),
                    None => "no process".into(),
                };
                return Err(err(
                    &self.path,
                    format!("encoding failed ({st}): {}", first_lines(&text, 4)),
                ));
            }
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            err(
                &self.path,
                format!("cannot move the finished video into place: {e}"),
            )
        })?;
        Ok(self.path.clone())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_formats() {
        for d in [
            "yuv420p10le",
            "yuv422p10le",
            "p010le",
            "rgb48le",
            "rgba64be",
            "gbrp12le",
            "gbrpf32le",
            "gray16le",
            "yuva444p16le",
            "ya16le",
            "gbrap10le",
            "x2rgb10le",
        ] {
            assert!(pix_fmt_is_deep(d), "{d} is deep");
        }
        for s in [
            "yuv420p", "yuvj420p", "nv12", "rgb24", "bgr24", "rgba", "pal8", "gray", "ya8",
            "rgb565le", "yuv411p", "bgr0", "gbrp", "yuva420p",
        ] {
            assert!(!pix_fmt_is_deep(s), "{s} is 8-bit");
        }
        for a in [
            "yuva444p10le",
            "rgba",
            "bgra",
            "argb",
            "gbrap",
            "ya8",
            "pal8",
            "rgba64le",
        ] {
            assert!(pix_fmt_has_alpha(a), "{a} has alpha");
        }
        for n in [
            "yuv420p",
            "rgb24",
            "bgr0",
            "0rgb",
            "nv12",
            "gbrp10le",
            "yuv422p10le",
        ] {
            assert!(!pix_fmt_has_alpha(n), "{n} has no alpha");
        }
    }

    #[test]
    fn fps_as_text() {
        assert_eq!(fps_text(25.0), "25");
        assert_eq!(fps_text(30000.0 / 1001.0), "30000/1001");
        assert_eq!(fps_text(24000.0 / 1001.0), "24000/1001");
        assert_eq!(fps_text(12.5), "12500/1000");
    }

    #[test]
    fn video_paths() {
        assert!(is_video_path(Path::new("a/shot.MP4")));
        assert!(is_video_path(Path::new("x.mov")));
        assert!(!is_video_path(Path::new("f.%04d.png")));
        assert!(!is_video_path(Path::new("noext")));
    }

    #[test]
    fn flat_output_parses() {
        let p = flat_pairs("streams.stream.0.codec_type=\"video\"\nformat.start_time=\"0.1\"\n");
        assert_eq!(stream_field(&p, 0, "codec_type"), Some("video"));
        assert_eq!(parse_rational("30000/1001"), Some((30000, 1001)));
        assert_eq!(parse_rational("0/0"), None);
    }
}
