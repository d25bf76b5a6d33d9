//! Temporal inputs (`PortDesc::history_of`): a node may declare optional inputs that are past
//! frames of one of its inputs (`source@-1`, `source@-2`, ...). Each adapter feeds them the
//! way its host can:
//!
//! - the C ABI and `wick render`: the host passes them as ordinary inputs (the frame at the
//!   port's offset, or NULL data where there is none: before the sequence start);
//! - OpenFX: the clip is fetched at the negative offsets (GetFramesNeeded asks for them only
//!   while the ports are [active](active));
//! - frei0r, whose hosts hand one frame per call: a [`Feeder`] keeps the last few input frames
//!   keyed by time and feeds them while the host's times advance one frame at a time; after a
//!   seek (or at the start) it feeds none, and the node falls back to per-frame processing.
//!
//! A past frame the host cannot give is `None`, never an error.

use std::collections::VecDeque;

use crate::frame::{Frame, StoredFrame};
use crate::node::{NodeDesc, NodeError, Params};

/// The past-frame inputs of one input `of`: (input index, frame offset < 0), nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub of: usize,
    pub ports: Vec<(usize, i32)>,
}

/// One [`Track`] per input that has past-frame inputs.
pub fn tracks(desc: &NodeDesc) -> Vec<Track> {
    desc.inputs
        .iter()
        .enumerate()
        .filter_map(|(of, p)| {
            let ports: Vec<(usize, i32)> = desc
                .history(p.name)
                .into_iter()
                .filter(|(_, o)| *o < 0)
                .collect();
            (!ports.is_empty()).then_some(Track { of, ports })
        })
        .collect()
}

/// Whether input `port` is to be fed under these params (`PortDesc::active_if`).
pub fn active(desc: &NodeDesc, port: usize, params: &Params) -> bool {
    desc.inputs.get(port).is_some_and(|p| p.active(params))
}

/// Whether any past-frame input is to be fed under these params.
pub fn wanted(desc: &NodeDesc, params: &Params) -> bool {
    desc.inputs
        .iter()
        .enumerate()
        .any(|(i, p)| p.history_of.is_some() && active(desc, i, params))
}

/// How this call's time follows the previous call's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first call.
    Start,
    /// One frame after the previous call.
    Next,
    /// The same time again (a re-render).
    Repeat,
    /// A few frames away, either way: frames out of order (hosts that render frames on
    /// several threads, e.g. melt's `real_time=-2`). Past frames already seen are fed.
    Near,
    /// Anything else: a seek, a jump, times that are no frames apart.
    Seek,
}

/// Steps longer than this (seconds) are never one frame (1 fps and slower is not video).
const MAX_PERIOD: f64 = 1.0;
/// Steps shorter than this are never one frame either.
const MIN_PERIOD: f64 = 1e-4;

/// Extra frames kept beyond the deepest offset, for frames that arrive out of order.
const SLACK: usize = 3;

/// Past frames for hosts that give one frame per call (frei0r): the last few frames of each
/// tracked input, keyed by time, and the frame period learnt from the host's times (the
/// smallest step between two calls, 1e-4 to 1 s; frei0r tells no frame rate). A past frame is
/// fed when the frame at `time + offset·period` was seen and the call is within a few frames
/// of the previous one (in order, repeated, or out of order as parallel renders go); after a
/// seek none is fed and the cache restarts.
pub struct Feeder {
    tracks: Vec<(Track, VecDeque<(f64, StoredFrame)>)>,
    depth: usize,
    last: Option<f64>,
    period: Option<f64>,
}

impl Feeder {
    pub fn new(desc: &NodeDesc) -> Self {
        let tracks: Vec<Track> = tracks(desc);
        let depth = tracks
            .iter()
            .flat_map(|t| t.ports.iter().map(|(_, o)| o.unsigned_abs() as usize))
            .max()
            .unwrap_or(0);
        Feeder {
            tracks: tracks.into_iter().map(|t| (t, VecDeque::new())).collect(),
            depth,
            last: None,
            period: None,
        }
    }

    /// The node has no past-frame inputs: nothing to do.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// The frame number of `time`: time ÷ the learnt frame period, rounded (0 at time 0);
    /// 0 while no period is known (the first call, which has no past frames either).
    pub fn frame_number(&self, time: f64) -> i64 {
        match self.period {
            Some(p) => (time / p).round() as i64,
            None => 0,
        }
    }

    fn step(&mut self, time: f64) -> Step {
        let Some(last) = self.last else {
            return Step::Start;
        };
        let dt = time - last;
        if dt == 0.0 {
            return Step::Repeat;
        }
        // Steps either way teach the period: hosts rendering on several threads may give the
        // second frame first (melt real_time=-2 gives frames 1, 0, 2, ...).
        let step = dt.abs();
        if (MIN_PERIOD..=MAX_PERIOD).contains(&step) {
            self.period = Some(self.period.map_or(step, |p| p.min(step)));
        }
        let window = (self.depth + SLACK) as f64;
        match self.period {
            Some(p) if (dt - p).abs() <= 0.25 * p => Step::Next,
            Some(p) if dt.abs() <= (window + 0.25) * p => Step::Near,
            _ => Step::Seek,
        }
    }

    /// Before a call at `time` (seconds): notes the time (learning the frame period) and says
    /// how it follows the previous call's; after a seek the cache restarts.
    pub fn advance(&mut self, time: f64) -> Step {
        let step = self.step(time);
        self.last = Some(time);
        if step == Step::Seek {
            for (_, cache) in &mut self.tracks {
                cache.clear();
            }
        }
        step
    }

    /// Fills the active past-frame entries of `inputs` for a call at `time` from the cache,
    /// when the call follows the previous one (`step`, from [`advance`](Self::advance)).
    pub fn fill<'s>(
        &'s self,
        desc: &NodeDesc,
        params: &Params,
        time: f64,
        step: Step,
        inputs: &mut [Option<Frame<'s>>],
    ) {
        let (Some(p), Step::Next | Step::Repeat | Step::Near) = (self.period, step) else {
            return;
        };
        for (track, cache) in &self.tracks {
            for &(port, off) in &track.ports {
                if !active(desc, port, params) || port >= inputs.len() {
                    continue;
                }
                let at = time + off as f64 * p;
                inputs[port] = cache
                    .iter()
                    .find(|(t, _)| (t - at).abs() <= 0.25 * p)
                    .map(|(_, f)| f.frame());
            }
        }
    }

    /// [`advance`](Self::advance), then [`fill`](Self::fill).
    #[cfg(test)]
    pub fn feed<'s>(
        &'s mut self,
        desc: &NodeDesc,
        params: &Params,
        time: f64,
        inputs: &mut [Option<Frame<'s>>],
    ) -> Step {
        let step = self.advance(time);
        self.fill(desc, params, time, step, inputs);
        step
    }

    /// After a call at `time`: keeps this call's frame of each tracked input whose past-frame
    /// inputs are active (a byte copy), with the frames before it that may still be needed.
    pub fn remember(
        &mut self,
        desc: &NodeDesc,
        params: &Params,
        time: f64,
        inputs: &[Option<Frame>],
    ) -> Result<(), NodeError> {
        for (track, cache) in &mut self.tracks {
            let wanted = track.ports.iter().any(|&(p, _)| active(desc, p, params));
            let Some(Some(frame)) = inputs.get(track.of).filter(|_| wanted) else {
                cache.clear();
                continue;
            };
            cache.retain(|(t, _)| *t != time);
            cache.push_back((time, frame.to_stored()?));
            cache.make_contiguous().sort_by(|a, b| a.0.total_cmp(&b.0));
            // This frame, the `depth` before it (a repeated time needs them all) and a few
            // more for frames that come out of order: the latest times are kept.
            while cache.len() > self.depth + 1 + SLACK {
                cache.pop_front();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::node::{ParamDesc, ParamKind, PortDesc, ThreadSafety, Value};

    fn desc() -> NodeDesc {
        NodeDesc {
            id: "t",
            label: "t",
            category: "t",
            help: "",
            inputs: vec![
                PortDesc::new("source", ""),
                PortDesc::new("style", "").optional(),
                PortDesc::new("source@-1", "")
                    .history_of("source")
                    .at_offset(-1)
                    .active_if("temporal"),
                PortDesc::new("source@-2", "")
                    .history_of("source")
                    .at_offset(-2)
                    .active_if("temporal"),
            ],
            outputs: vec![],
            params: vec![ParamDesc::new(
                "temporal",
                "",
                "",
                ParamKind::Float {
                    min: 0.0,
                    max: 1.0,
                    default: 1.0,
                },
            )],
            thread_safety: ThreadSafety::InstanceSafe,
            source: false,
            long_running: false,
            cancellable: false,
        }
    }

    /// A 1x1 frame whose red value names the frame.
    fn frame(n: usize) -> Image {
        let mut i = Image::new(1, 1).unwrap();
        i.data[0] = n as f32 / 100.0;
        i
    }

    /// Feeds frames at these times and returns, per call, the step and which frames were fed
    /// as source@-1 and source@-2 (by their number).
    fn run(
        d: &NodeDesc,
        p: &Params,
        times: &[(f64, usize)],
    ) -> Vec<(Step, Option<usize>, Option<usize>)> {
        let mut f = Feeder::new(d);
        let mut out = Vec::new();
        for &(t, n) in times {
            let img = frame(n);
            let name = |x: &Option<Frame>| x.map(|f| (f.pixel(0, 0)[0] * 100.0).round() as usize);
            let step;
            let fed;
            {
                let mut inputs = vec![Some(img.frame()), None, None, None];
                step = f.feed(d, p, t, &mut inputs);
                fed = (name(&inputs[2]), name(&inputs[3]));
            }
            f.remember(d, p, t, &[Some(img.frame()), None, None, None])
                .unwrap();
            out.push((step, fed.0, fed.1));
        }
        out
    }

    #[test]
    fn consecutive_times_feed_the_previous_frames_and_a_seek_feeds_none() {
        let d = desc();
        assert_eq!(
            tracks(&d),
            vec![Track {
                of: 0,
                ports: vec![(2, -1), (3, -2)]
            }]
        );
        let p = Params::new(&d.params);
        // 25 fps in seconds (melt); a seek from frame 3 to frame 10, then on; a re-render; one
        // frame back (out of order: frame 9 was never seen); a jump back to the start.
        let t = |n: usize| n as f64 / 25.0;
        let got = run(
            &d,
            &p,
            &[
                (t(0), 0),
                (t(1), 1),
                (t(2), 2),
                (t(3), 3),
                (t(10), 10),
                (t(11), 11),
                (t(12), 12),
                (t(12), 12),
                (t(11), 11),
                (t(0), 0),
            ],
        );
        use Step::*;
        assert_eq!(
            got,
            vec![
                (Start, None, None),
                (Next, Some(0), None),
                (Next, Some(1), Some(0)),
                (Next, Some(2), Some(1)),
                (Seek, None, None),
                (Next, Some(10), None),
                (Next, Some(11), Some(10)),
                (Repeat, Some(11), Some(10)),
                (Near, Some(10), None),
                (Seek, None, None),
            ]
        );
        // FFmpeg's milliseconds (40 ms a frame), converted to seconds by the adapter.
        let ms = run(&d, &p, &[(0.0, 0), (0.04, 1), (0.08, 2)]);
        assert_eq!(ms[2], (Next, Some(1), Some(0)));
        // Frame numbers from the learnt period: what the node's absolute-frame logic sees.
        let mut f = Feeder::new(&d);
        assert_eq!(f.frame_number(0.4), 0, "no period yet");
        for t in [0.40, 0.44] {
            f.advance(t);
        }
        assert_eq!(f.frame_number(0.44), 11);
        assert_eq!(f.frame_number(0.48), 12);
    }

    /// Frames out of order from the start (melt `real_time=-2` gives frame 1 before frame 0):
    /// the period is learnt from the step back, so frame 2 gets frames 1 and 0, never frame 0
    /// as its previous frame (a period of two frames), no seek is seen, and frame numbers
    /// are right.
    #[test]
    fn a_step_back_at_the_start_teaches_the_period() {
        let d = desc();
        let p = Params::new(&d.params);
        let t = |n: usize| n as f64 / 25.0;
        let got = run(&d, &p, &[(t(1), 1), (t(0), 0), (t(2), 2), (t(3), 3)]);
        use Step::*;
        assert_eq!(
            got,
            vec![
                (Start, None, None),
                (Near, None, None),
                (Near, Some(1), Some(0)),
                (Next, Some(2), Some(1)),
            ]
        );
        let mut f = Feeder::new(&d);
        for n in [1, 0, 2] {
            f.advance(t(n));
        }
        assert_eq!(f.frame_number(t(2)), 2);
    }

    #[test]
    fn inactive_ports_are_neither_fed_nor_kept() {
        let d = desc();
        let mut p = Params::new(&d.params);
        p.set("temporal", Value::Float(0.0)).unwrap();
        let got = run(&d, &p, &[(0.0, 0), (0.04, 1), (0.08, 2)]);
        assert!(got.iter().all(|(_, a, b)| a.is_none() && b.is_none()));
        // A node without past-frame inputs: nothing to do.
        let mut plain = desc();
        plain.inputs.truncate(2);
        assert!(Feeder::new(&plain).is_empty());
    }
}
