//! Frame-number patterns: the one parser for `f.%04d.png`, `f.%d.png` and `f.####.png`,
//! used by `wick render` (read and write nodes), `wick retime` and training inputs.
//!
//! Rules:
//! - A pattern holds one frame-number field: `%d` (no padding), `%0Nd` or `%Nd` (zero-padded
//!   to N digits; `%4d` is read as `%04d`, since file names do not pad with spaces), or a run
//!   of N `#` (zero-padded to N digits). The field that comes first is the pattern; a second
//!   field is an error. N is at most [`MAX_WIDTH`].
//! - A number is written as `format!("{n:0N}")`: padded to at least N digits, longer when it
//!   needs more (`%04d` of 12345 is `12345`), a negative number with its sign.
//! - A file matches when the text between the prefix and the suffix is all digits and is what
//!   writing its number gives back (`%04d` matches `0012` and `12345`, not `012` or `00012`);
//!   `%d` matches any run of digits (`7` and `007` are both frame 7).

use std::path::{Path, PathBuf};

/// The widest zero-padding a pattern may ask for.
pub const MAX_WIDTH: usize = 32;

/// A parsed frame-number pattern: `prefix`, the number padded to `width` digits, `suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePattern {
    pub prefix: String,
    pub width: usize,
    pub suffix: String,
}

impl FramePattern {
    /// Parses `text`. `Ok(None)`: it holds no frame-number field (a single file); `Err`: it
    /// holds a malformed one (a `%` not followed by `d`, `0Nd` or `Nd`, a second field, a
    /// width over [`MAX_WIDTH`]).
    pub fn parse(text: &str) -> Result<Option<FramePattern>, String> {
        let bad = |why: &str| Err(format!("frame pattern '{text}': {why}"));
        let (pct, hash) = (text.find('%'), text.find('#'));
        let (start, width, end) = match (pct, hash) {
            (None, None) => return Ok(None),
            (Some(p), h) if h.map_or(true, |h| p < h) => {
                let rest = &text[p + 1..];
                let Some(d) = rest.find('d') else {
                    return bad("'%' must be followed by d, 0Nd or Nd (e.g. %04d)");
                };
                let spec = &rest[..d];
                if !spec.bytes().all(|b| b.is_ascii_digit()) {
                    return bad("'%' must be followed by d, 0Nd or Nd (e.g. %04d)");
                }
                let digits = spec.trim_start_matches('0');
                let width = if digits.is_empty() {
                    0
                } else {
                    match digits.parse::<usize>() {
                        Ok(w) => w,
                        Err(_) => usize::MAX,
                    }
                };
                (p, width, p + 1 + d + 1)
            }
            (_, Some(h)) => {
                let n = text[h..].bytes().take_while(|&b| b == b'#').count();
                (h, n, h + n)
            }
            (Some(_), None) => unreachable!("handled by the first arm"),
        };
        if width > MAX_WIDTH {
            return bad(&format!("zero-padding wider than {MAX_WIDTH} digits"));
        }
        let suffix = &text[end..];
        if suffix.contains(['%', '#']) {
            return bad("more than one frame-number field");
        }
        Ok(Some(FramePattern {
            prefix: text[..start].to_string(),
            width,
            suffix: suffix.to_string(),
        }))
    }

    /// Parses `text`, which must hold a frame-number field.
    pub fn parse_required(text: &str) -> Result<FramePattern, String> {
        FramePattern::parse(text)?.ok_or_else(|| {
            format!("frame pattern '{text}' has no frame number (use %04d, %d or ####)")
        })
    }

    /// The text for frame `n`.
    pub fn format(&self, n: i64) -> String {
        format!("{}{:0w$}{}", self.prefix, n, self.suffix, w = self.width)
    }

    /// The path of frame `n`.
    pub fn path(&self, n: i64) -> PathBuf {
        PathBuf::from(self.format(n))
    }

    /// The folder the frames are in and the file-name part of the prefix. Errors when the
    /// frame number is not in the file name (`shot%02d/f.png`).
    fn split(&self) -> Result<(PathBuf, String), String> {
        if self.suffix.contains('/') || self.suffix.contains(std::path::MAIN_SEPARATOR) {
            return Err(format!(
                "frame pattern '{}': the frame number must be in the file name, not a folder",
                self.format(0)
            ));
        }
        let cut = self
            .prefix
            .rfind(['/', std::path::MAIN_SEPARATOR])
            .map(|i| i + 1)
            .unwrap_or(0);
        let dir = &self.prefix[..cut];
        let dir = if dir.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(dir)
        };
        Ok((dir, self.prefix[cut..].to_string()))
    }

    /// The frame number of a file name (no folder) this pattern matches (see the module docs).
    pub fn number_of(&self, file_name: &str) -> Option<i64> {
        let stem = match self.prefix.rfind(['/', std::path::MAIN_SEPARATOR]) {
            Some(i) => &self.prefix[i + 1..],
            None => &self.prefix[..],
        };
        let mid = file_name.strip_prefix(stem)?.strip_suffix(&self.suffix)?;
        if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = mid.parse().ok()?;
        if self.width > 0 && format!("{n:0w$}", w = self.width) != mid {
            return None;
        }
        Some(n)
    }

    /// The frames of this pattern present on disk: (number, path), ascending by number; when
    /// two files give one number (`%d`: `7` and `007`) the first name in byte order is kept.
    pub fn scan(&self) -> Result<Vec<(i64, PathBuf)>, String> {
        let (dir, _) = self.split()?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("folder {} of pattern '{}': {e}", dir.display(), self))?;
        let mut found: Vec<(i64, PathBuf)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = self.number_of(name) {
                found.push((n, dir_join(&dir, &self.prefix, name)));
            }
        }
        found.sort();
        found.dedup_by_key(|(n, _)| *n);
        Ok(found)
    }
}

/// `dir/name`, but keeping a prefix-relative spelling (`name` alone when the pattern had no
/// folder), so paths read as the user wrote them.
fn dir_join(dir: &Path, prefix: &str, name: &str) -> PathBuf {
    if prefix.contains(['/', std::path::MAIN_SEPARATOR]) {
        dir.join(name)
    } else {
        PathBuf::from(name)
    }
}

impl std::fmt::Display for FramePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.width == 0 {
            write!(f, "{}%d{}", self.prefix, self.suffix)
        } else {
            write!(f, "{}%0{}d{}", self.prefix, self.width, self.suffix)
        }
    }
}

/// Expands `text`'s frame-number field with `frame`; text with no (or a malformed) field is
/// returned as it is (a single file used for every frame).
pub fn expand(text: &str, frame: i64) -> String {
    match FramePattern::parse(text) {
        Ok(Some(p)) => p.format(frame),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> FramePattern {
        FramePattern::parse(t).unwrap().unwrap()
    }

    #[test]
    fn syntax() {
        assert_eq!(p("out.####.png").format(7), "out.0007.png");
        assert_eq!(p("out.%04d.png").format(12), "out.0012.png");
        assert_eq!(p("out.%4d.png").format(12), "out.0012.png");
        assert_eq!(p("o.%d.png").format(12), "o.12.png");
        assert_eq!(p("o.%0d.png").format(12), "o.12.png");
        assert_eq!(p("o.%04d.png").format(12345), "o.12345.png");
        assert_eq!(p("o.%04d.png").format(-3), "o.-003.png");
        assert_eq!(p("a/b.%03d.exr"), p("a/b.###.exr"));
        assert_eq!(FramePattern::parse("still.png").unwrap(), None);
        for bad in [
            "a%x.png",
            "a%-4d.png",
            "a%04d.%d.png",
            "a.##.#.png",
            "a%99d.png",
            "a%",
        ] {
            assert!(FramePattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(expand("still.png", 3), "still.png");
        assert_eq!(expand("50%.png", 3), "50%.png");
        assert_eq!(expand("f.##.png", 3), "f.03.png");
    }

    #[test]
    fn matching_is_the_inverse_of_writing() {
        let q = p("dir/f.%04d.png");
        assert_eq!(q.number_of("f.0012.png"), Some(12));
        assert_eq!(q.number_of("f.12345.png"), Some(12345));
        assert_eq!(q.number_of("f.012.png"), None);
        assert_eq!(q.number_of("f.00012.png"), None);
        assert_eq!(q.number_of("f.0012.jpg"), None);
        assert_eq!(q.number_of("f.-012.png"), None);
        assert_eq!(q.number_of("f.99999999999999999999.png"), None);
        let d = p("f.%d.png");
        assert_eq!(d.number_of("f.007.png"), Some(7));
        assert_eq!(d.number_of("f.7.png"), Some(7));
        assert_eq!(d.number_of("f..png"), None);
    }

    #[test]
    fn scan_finds_frames_in_order() {
        let dir = std::env::temp_dir().join(format!("wick-pattern-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            "f.0010.png",
            "f.0002.png",
            "f.0003.jpg",
            "g.0001.png",
            "f.002.png",
        ] {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        let q = p(&format!("{}/f.####.png", dir.display()));
        let found = q.scan().unwrap();
        assert_eq!(
            found,
            vec![(2, dir.join("f.0002.png")), (10, dir.join("f.0010.png"))]
        );
        assert!(p("shot%02d/f.png").scan().is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
