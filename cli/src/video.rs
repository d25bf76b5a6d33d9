//! Video files for the `wick` commands: the host side of [`wick_video`] (FFmpeg subprocesses)
//! in the SDK's terms: frames as [`Frame`]s, errors as [`HostError`]s naming the file.
//!
//! Decoded frames are 8-bit (or 16-bit for deeper sources) RGB, or RGBA when the file has
//! alpha, sRGB-encoded with straight alpha, exactly the bytes FFmpeg's pipe carries (no
//! conversion). Frames are numbered from 1; a request outside the clip holds its first or last
//! frame, as a compositor's read node does.

use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;

pub use wick_video::{is_video_path, AudioSource, EncodeSettings, Info, Layout};
use wick_video::{Decoder, Encoder, VideoError};

use crate::{Frame, HostError, Sample};

/// A [`VideoError`] as the SDK's I/O error (the path and the message).
pub fn host_err(e: VideoError) -> HostError {
    HostError::Io {
        path: e.path,
        msg: e.msg,
    }
}

/// Probes a video (size, fps, frame count), errors naming the file.
pub fn probe(path: &Path) -> Result<Info, HostError> {
    wick_video::probe(path).map_err(host_err)
}

/// The SDK frame format of a raw layout (sRGB, straight alpha).
pub fn frame_format(l: Layout) -> (Sample, u32) {
    (
        if l.deep { Sample::U16 } else { Sample::U8 },
        l.channels() as u32,
    )
}

/// A decoded video as a frame source: frame `n` from 1, held at the ends. A few decoders
/// stream side by side, so consumers at different positions (a retime and a full-rate writer,
/// a temporal window) each continue a sequential stream instead of seeking; the last few
/// frames are kept for small steps back.
pub struct VideoSource {
    path: std::path::PathBuf,
    info: Info,
    streams: Vec<Stream>,
    uses: u64,
    recent: VecDeque<(usize, Rc<Frame>)>,
}

/// One decoder, the request count when it was last used, and the last frame it gave (a
/// consumer held at the clip's end keeps asking for it).
struct Stream {
    dec: Decoder,
    used: u64,
    last: Option<(usize, Rc<Frame>)>,
}

/// Frames kept for steps back: a temporal window (`source@-1` … `@-11`) re-reads the frames
/// before the current one when the graph's own cache has dropped them (a retime between asks
/// for them every other output frame); without them each stylised frame restarted a decoder.
/// At most `RECENT_BYTES` of them (16 frames of 1080p RGBA8 are 133 MB).
const RECENT: usize = 16;
const RECENT_BYTES: usize = 512 << 20;
/// Streams per source (each an `ffmpeg` process holding one frame).
const STREAMS: usize = 3;

impl VideoSource {
    pub fn open(path: &Path) -> Result<VideoSource, HostError> {
        let info = probe(path)?;
        Ok(VideoSource::with_info(path, info))
    }
    pub fn with_info(path: &Path, info: Info) -> VideoSource {
        VideoSource {
            path: path.to_path_buf(),
            info,
            streams: Vec::new(),
            uses: 0,
            recent: VecDeque::new(),
        }
    }
    pub fn info(&self) -> &Info {
        &self.info
    }
    /// Frame `n`, clamped to the clip (1 ..= frames).
    pub fn frame(&mut self, n: i64) -> Result<Rc<Frame>, HostError> {
        let count = self.info.frames as i64;
        let n = n.clamp(1, count) as usize;
        let kept = self
            .recent
            .iter()
            .chain(self.streams.iter().filter_map(|s| s.last.as_ref()))
            .find(|(k, _)| *k == n);
        if let Some((_, f)) = kept {
            return Ok(Rc::clone(f));
        }
        self.uses += 1;
        // The stream that continues to n with the least decoding, else a new one (up to
        // STREAMS), else the least recently used one, restarted.
        let k = match self
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.dec.continues(n))
            .min_by_key(|(_, s)| n - s.dec.streaming_at().unwrap_or(0))
        {
            Some((k, _)) => k,
            None if self.streams.len() < STREAMS => {
                let layout = self.info.layout;
                self.streams.push(Stream {
                    dec: Decoder::with_info(&self.path, self.info.clone(), layout),
                    used: 0,
                    last: None,
                });
                self.streams.len() - 1
            }
            None => self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k)
                .unwrap_or(0),
        };
        let s = &mut self.streams[k];
        s.used = self.uses;
        let data = s.dec.read(n).map_err(host_err)?;
        let (sample, channels) = frame_format(s.dec.layout());
        let f = Rc::new(Frame {
            width: self.info.width,
            height: self.info.height,
            sample,
            channels,
            premultiplied: false,
            linear: false,
            data,
        });
        s.last = Some((n, Rc::clone(&f)));
        self.recent.push_back((n, Rc::clone(&f)));
        while self.recent.len() > RECENT
            || (self.recent.len() > 1
                && self.recent.iter().map(|(_, f)| f.data.len()).sum::<usize>() > RECENT_BYTES)
        {
            self.recent.pop_front();
        }
        Ok(f)
    }
    /// `ffmpeg` processes started so far (1 for a sequential read).
    pub fn decoder_starts(&self) -> usize {
        self.streams.iter().map(|s| s.dec.starts()).sum()
    }
}

/// A video being written: started at the first frame (its size fixes the file's), frames
/// appended in order, renamed into place by [`VideoSink::finish`]. Dropped unfinished, nothing
/// is left on disk.
pub struct VideoSink {
    path: std::path::PathBuf,
    settings: EncodeSettings,
    layout: Layout,
    expected: Option<usize>,
    enc: Option<Encoder>,
    last: Option<i64>,
}

impl VideoSink {
    /// Checks the settings against the installed FFmpeg (encoder present, options apply).
    pub fn new(
        path: &Path,
        settings: EncodeSettings,
        expected: Option<usize>,
    ) -> Result<VideoSink, HostError> {
        let plan = wick_video::plan(path, &settings).map_err(host_err)?;
        Ok(VideoSink {
            path: path.to_path_buf(),
            settings,
            layout: plan.layout,
            expected,
            enc: None,
            last: None,
        })
    }
    /// The layout frames must be given in.
    pub fn layout(&self) -> Layout {
        self.layout
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Appends `frame` (rendered for graph frame `number`; numbers must increase).
    pub fn push(&mut self, number: i64, frame: &Frame) -> Result<(), HostError> {
        if let Some(l) = self.last {
            if number <= l {
                return Err(HostError::BadArgument(format!(
                    "{}: a video is written in increasing frame order; frame {number} comes \
                     after {l} (render image files for arbitrary orders)",
                    self.path.display()
                )));
            }
        }
        let (sample, channels) = frame_format(self.layout);
        if frame.sample != sample || frame.channels != channels {
            return Err(HostError::Io {
                path: self.path.clone(),
                msg: "frame format does not match the encoder's (internal error)".into(),
            });
        }
        if self.enc.is_none() {
            self.enc = Some(
                Encoder::start(
                    &self.path,
                    &self.settings,
                    frame.width,
                    frame.height,
                    self.expected,
                )
                .map_err(host_err)?,
            );
        }
        let enc = self.enc.as_mut().expect("started");
        if enc.size() != (frame.width, frame.height) {
            return Err(HostError::BadArgument(format!(
                "{}: frame {number} is {}x{} but the video is {}x{}",
                self.path.display(),
                frame.width,
                frame.height,
                enc.size().0,
                enc.size().1
            )));
        }
        enc.write(&frame.data).map_err(host_err)?;
        self.last = Some(number);
        Ok(())
    }
    /// Frames written so far.
    pub fn frames(&self) -> usize {
        self.enc.as_ref().map(|e| e.frames()).unwrap_or(0)
    }
    /// Finishes the file (nothing to do when no frame was written).
    pub fn finish(mut self) -> Result<Option<std::path::PathBuf>, HostError> {
        match self.enc.take() {
            Some(e) => e.finish().map(Some).map_err(host_err),
            None => Ok(None),
        }
    }
}
