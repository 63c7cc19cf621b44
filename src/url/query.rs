//! The MSOD query features of a request URI (pure): clipping `start=`/`end=`, the
//! bitrate filter `b=`, the segment duration `sd=`. Every other key (`hdnts`, a
//! player's cache buster) is ignored here: it names no content, so it never reaches a
//! cache name.
//!
//! nginx maps the same keys to the same cache names with `$arg_*` (nginx_conf), so
//! the rules follow nginx's: key names match without regard to case, the first
//! occurrence of a key counts, and an empty value is no value (nginx cannot tell
//! `start=` from no `start`). Values are taken as sent, not percent-decoded.
//!
//! Each query has one canonical spelling, which names its cached files (`tag`);
//! nginx finds only that spelling, so `start=12.0` is a trip to the worker that is
//! answered from the file of `start=12`.

pub mod sidecar;

use sidecar::{SidecarError, SidecarQuery};
use std::fmt;

/// Seconds are kept in milliseconds: the canonical spelling has at most 3 decimals.
const MAX_SECONDS_DIGITS: usize = 9;
/// More `b=` ranges than this are refused (a title has a handful of renditions).
const MAX_RANGES: usize = 16;

/// A bad query value: 400 with this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    NotANumber(&'static str),
    Negative(&'static str),
    TooLarge(&'static str),
    StartNotBeforeEnd,
    /// `start` at or past the end of the title (known only once it is planned).
    StartBeyondEnd,
    BadBitrate,
    BadSegmentDuration,
    /// `sd` outside `[msod] min/max_segment_duration_ms` (both in ms).
    SegmentDurationOutOfRange(u64, u64),
    /// `sd` with real Bento4 (whole-rendition packaging at the configured duration).
    SegmentDurationNeedsJit,
    /// A trimmed segment (`start`/`end` on a segment) with real Bento4.
    TrimNeedsJit,
    /// A bad `subtitle_*` override.
    Sidecar(SidecarError),
    /// `start`, `end` or `sd` under the CMAF HLS or DASH prefix.
    ClipNotForCmaf,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::NotANumber(key) => write!(f, "{key}= is not a number of seconds"),
            QueryError::Negative(key) => write!(f, "{key}= must not be negative"),
            QueryError::TooLarge(key) => write!(f, "{key}= is too large"),
            QueryError::StartNotBeforeEnd => f.write_str("start= must be before end="),
            QueryError::StartBeyondEnd => f.write_str("start= is beyond the end of the title"),
            QueryError::BadBitrate => {
                f.write_str("b= must be <low>-[<high>][,<low>-[<high>]…] in kbit/s")
            }
            QueryError::BadSegmentDuration => f.write_str("sd= must be <n>s or <n>ms"),
            QueryError::TrimNeedsJit => {
                f.write_str("start= or end= on a segment needs the just-in-time packaging tools")
            }
            QueryError::SegmentDurationNeedsJit => {
                f.write_str("sd= needs the just-in-time packaging tools")
            }
            QueryError::SegmentDurationOutOfRange(lo, hi) => {
                write!(f, "sd= must be between {lo} ms and {hi} ms")
            }
            QueryError::Sidecar(e) => e.fmt(f),
            QueryError::ClipNotForCmaf => f.write_str(
                "start=, end= and sd= are served as TS HLS only (under the TS prefix); CMAF HLS and DASH take b=",
            ),
        }
    }
}

/// `start=` and `end=` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

impl Clip {
    pub fn start(&self) -> f64 {
        self.start_ms as f64 / 1000.0
    }

    pub fn end(&self) -> Option<f64> {
        self.end_ms.map(|e| e as f64 / 1000.0)
    }
}

/// One `b=` range in kbit/s; `high: None` is open above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KbpsRange {
    pub low: u64,
    pub high: Option<u64>,
}

/// The query features of one request; `Query::default()` is a plain request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub clip: Option<Clip>,
    pub bitrate: Option<Vec<KbpsRange>>,
    /// `sd=` in milliseconds.
    pub segment_ms: Option<u64>,
    /// Where sidecar subtitles are looked for (`subtitle_*`).
    pub sidecar: SidecarQuery,
}

/// The value of the first `key` (ASCII case ignored) with a non-empty value.
/// An empty first value hides later ones, as in nginx's `$arg_key`.
fn first<'a>(query: &'a [u8], key: &str) -> Option<&'a [u8]> {
    for pair in query.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (pair.get(..at)?, pair.get(at + 1..)?),
            None => (pair, &b""[..]),
        };
        if name.eq_ignore_ascii_case(key.as_bytes()) {
            return Some(value).filter(|v| !v.is_empty());
        }
    }
    None
}

/// Decimal digits, no sign; `None` when empty, not all digits or too long.
fn digits(text: &[u8], max: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Seconds with optional decimals → milliseconds, rounded to the nearest.
fn seconds_ms(value: &[u8], key: &'static str) -> Result<u64, QueryError> {
    if value.first() == Some(&b'-') {
        let rest = value.get(1..).unwrap_or_default();
        return Err(if seconds_ms(rest, key).is_ok() {
            QueryError::Negative(key)
        } else {
            QueryError::NotANumber(key)
        });
    }
    let (whole, fraction) = match value.iter().position(|&b| b == b'.') {
        Some(at) => (
            value.get(..at).unwrap_or_default(),
            value.get(at + 1..).unwrap_or_default(),
        ),
        None => (value, &b""[..]),
    };
    let fraction_ok = fraction.iter().all(u8::is_ascii_digit) && fraction.len() <= 64;
    let whole_ok = !whole.is_empty() && whole.iter().all(u8::is_ascii_digit);
    if !whole_ok || !fraction_ok || (value.contains(&b'.') && fraction.is_empty()) {
        return Err(QueryError::NotANumber(key));
    }
    let trimmed = {
        let at = whole.iter().position(|&b| b != b'0').unwrap_or(whole.len());
        whole.get(at..).unwrap_or_default()
    };
    if trimmed.len() > MAX_SECONDS_DIGITS {
        return Err(QueryError::TooLarge(key));
    }
    let secs = if trimmed.is_empty() {
        0
    } else {
        digits(trimmed, MAX_SECONDS_DIGITS).ok_or(QueryError::NotANumber(key))?
    };
    // Milliseconds from the first three decimals, rounded by the fourth.
    let mut ms = 0u64;
    for i in 0..3 {
        ms = ms * 10 + fraction.get(i).map_or(0, |d| u64::from(d - b'0'));
    }
    if fraction.get(3).is_some_and(|&d| d >= b'5') {
        ms += 1;
    }
    Ok(secs * 1000 + ms)
}

fn bitrate(value: &[u8]) -> Result<Vec<KbpsRange>, QueryError> {
    let number = |t: &[u8]| {
        let canonical = t == b"0" || t.first() != Some(&b'0');
        digits(t, 9)
            .filter(|_| canonical)
            .ok_or(QueryError::BadBitrate)
    };
    let mut ranges = Vec::new();
    for part in value.split(|&b| b == b',') {
        let at = part
            .iter()
            .position(|&b| b == b'-')
            .ok_or(QueryError::BadBitrate)?;
        let low = number(part.get(..at).unwrap_or_default())?;
        let high = match part.get(at + 1..).unwrap_or_default() {
            [] => None,
            high => Some(number(high)?),
        };
        if high.is_some_and(|h| h < low) || ranges.len() == MAX_RANGES {
            return Err(QueryError::BadBitrate);
        }
        ranges.push(KbpsRange { low, high });
    }
    Ok(ranges)
}

fn segment_duration(value: &[u8]) -> Result<u64, QueryError> {
    let (number, scale) = if let Some(n) = value.strip_suffix(b"ms") {
        (n, 1)
    } else if let Some(n) = value.strip_suffix(b"s") {
        (n, 1000)
    } else {
        return Err(QueryError::BadSegmentDuration);
    };
    let n = digits(number, 6).ok_or(QueryError::BadSegmentDuration)?;
    Ok(n * scale)
}

/// Parses the raw query (without its `?`). Checks what needs no title: numbers,
/// signs, `start < end`, `b=` syntax, `sd=` syntax (its range: `check_segment_range`).
pub fn parse(query: &[u8]) -> Result<Query, QueryError> {
    let start = first(query, "start")
        .map(|v| seconds_ms(v, "start"))
        .transpose()?;
    let end = first(query, "end")
        .map(|v| seconds_ms(v, "end"))
        .transpose()?;
    let clip = match (start, end) {
        // From 0 to the end is the whole title: the plain request.
        (None | Some(0), None) => None,
        (start, end) => {
            let start_ms = start.unwrap_or(0);
            if end.is_some_and(|e| start_ms >= e) {
                return Err(QueryError::StartNotBeforeEnd);
            }
            Some(Clip {
                start_ms,
                end_ms: end,
            })
        }
    };
    Ok(Query {
        clip,
        bitrate: first(query, "b").map(bitrate).transpose()?,
        segment_ms: first(query, "sd").map(segment_duration).transpose()?,
        sidecar: sidecar::parse(|key| first(query, key)).map_err(QueryError::Sidecar)?,
    })
}

/// `sd=` within the configured range (inclusive, milliseconds).
pub fn check_segment_range(query: &Query, min_ms: u64, max_ms: u64) -> Result<(), QueryError> {
    match query.segment_ms {
        Some(ms) if ms < min_ms || ms > max_ms => {
            Err(QueryError::SegmentDurationOutOfRange(min_ms, max_ms))
        }
        _ => Ok(()),
    }
}

/// Milliseconds as canonical seconds: `12000` → `12`, `12500` → `12.5`.
pub fn seconds_text(ms: u64) -> String {
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return secs.to_string();
    }
    let frac = format!("{frac:03}");
    format!("{secs}.{}", frac.trim_end_matches('0'))
}

impl KbpsRange {
    /// Whether a variant of `bandwidth` bit/s (its BANDWIDTH) falls in the range.
    pub fn holds(&self, bandwidth: u64) -> bool {
        bandwidth >= self.low.saturating_mul(1000)
            && self
                .high
                .is_none_or(|h| bandwidth <= h.saturating_mul(1000))
    }
}

/// Which query features name a resource's file: a master all of them, a media
/// playlist and a segment the clip and `sd` (a segment URI carries a clip only when
/// it is a clip's first or last, trimmed at a keyframe inside it); subtitles a
/// sidecar's `subtitle_*` overrides (`sidecar`), and a subtitle playlist the clip too
/// (its WebVTT segments are the title's, shared by every clip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Master,
    MediaPlaylist,
    Segment,
    Subtitles { playlist: bool, sidecar: bool },
}

impl Query {
    pub fn is_plain(&self) -> bool {
        *self == Query::default()
    }

    /// The query features that matter to a resource of `scope` (the rest dropped).
    pub fn scoped(&self, scope: Scope) -> Query {
        match scope {
            Scope::Master => self.clone(),
            Scope::MediaPlaylist | Scope::Segment => Query {
                clip: self.clip,
                bitrate: None,
                segment_ms: self.segment_ms,
                sidecar: SidecarQuery::default(),
            },
            Scope::Subtitles { playlist, sidecar } => Query {
                clip: self.clip.filter(|_| playlist),
                sidecar: if sidecar {
                    self.sidecar.clone()
                } else {
                    SidecarQuery::default()
                },
                ..Query::default()
            },
        }
    }

    /// The cache dir name of this query beside the plain files (`None` when plain):
    /// `~start12~end40~b300-,1200-~sd6000~sfp…~sid…~sloc…`, the parts in that order
    /// (`start=0` left out: it is where every title starts). nginx builds the
    /// same name from `$arg_start`, `$arg_end`, `$arg_b`, `$arg_sd`,
    /// `$arg_subtitle_file_pattern`, `$arg_subtitle_identifier` (nginx_conf).
    pub fn tag(&self) -> Option<String> {
        if self.is_plain() {
            return None;
        }
        let mut tag = String::new();
        if let Some(clip) = self.clip {
            if clip.start_ms > 0 {
                tag.push_str(&format!("~start{}", seconds_text(clip.start_ms)));
            }
            if let Some(end) = clip.end_ms {
                tag.push_str(&format!("~end{}", seconds_text(end)));
            }
        }
        if let Some(ranges) = &self.bitrate {
            tag.push_str("~b");
            tag.push_str(&bitrate_text(ranges));
        }
        if let Some(ms) = self.segment_ms {
            tag.push_str(&format!("~sd{ms}"));
        }
        self.sidecar.push_tag(&mut tag);
        Some(tag)
    }

    /// The clip alone, canonical (what a clipped master's subtitle URIs carry).
    pub fn clip_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(clip) = self.clip {
            if clip.start_ms > 0 {
                parts.push(format!("start={}", seconds_text(clip.start_ms)));
            }
            if let Some(end) = clip.end_ms {
                parts.push(format!("end={}", seconds_text(end)));
            }
        }
        parts.join("&")
    }

    /// The query a clipped master's variant URIs carry: clip and `sd`, canonical.
    pub fn variant_query(&self) -> String {
        let mut parts = vec![self.clip_query()];
        parts.retain(|p| !p.is_empty());
        if let Some(ms) = self.segment_ms {
            parts.push(format!("sd={ms}ms"));
        }
        parts.join("&")
    }
}

fn bitrate_text(ranges: &[KbpsRange]) -> String {
    let texts: Vec<String> = ranges
        .iter()
        .map(|r| match r.high {
            Some(h) => format!("{}-{h}", r.low),
            None => format!("{}-", r.low),
        })
        .collect();
    texts.join(",")
}

#[cfg(test)]
mod tests;
