//! Clipped and query-carrying playlists (pure): which segments a clip
//! `start=S&end=E` lists, and the media playlist of that window.
//!
//! A clip lists the title's own segments between its ends, so those are stored once.
//! Its first segment starts at the keyframe at or before S and its last ends at the
//! first keyframe at or after E: when such a keyframe falls inside a segment, that
//! segment is listed trimmed (`segment<K>_<N>_av.ts?start=<keyframe>` or `?end=`,
//! cut by `mp42hls --trim-start/--trim-end`), a file of its own. `EXT-X-START` makes
//! playback begin at S. Without keyframe times (whole-rendition mode) the clip is
//! cut at segment boundaries.

use super::target_duration;
use crate::url::query::{seconds_text, Clip, QueryError};
use std::fmt::Write;

/// Where a listed end segment is cut: at a keyframe, `removed` seconds shorter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// The keyframe's time in milliseconds, rounded so the tool finds that keyframe
    /// (up for a start: at or before it; down for an end: at or after it).
    pub at_ms: u64,
    pub removed: f64,
}

/// Segments of a title a clip lists: indexes into its durations, 0-based, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub first: usize,
    pub last: usize,
    /// Seconds from the first listed segment's start to S (`EXT-X-START`); `None`
    /// lists segments without a clip (`sd=` alone).
    pub offset: Option<f64>,
    /// The first segment, trimmed to start at a keyframe inside it.
    pub start_cut: Option<Cut>,
    /// The last segment, trimmed to end at a keyframe inside it.
    pub end_cut: Option<Cut>,
}

impl Window {
    /// Every segment of a title of `count` segments, no clip.
    pub fn whole(count: usize) -> Window {
        Window {
            first: 0,
            last: count.saturating_sub(1),
            offset: None,
            start_cut: None,
            end_cut: None,
        }
    }
}

/// Tolerance for S or E falling on a boundary through float sums.
const EPSILON: f64 = 1e-6;

/// The window of `clip` over segments of `durations` at segment boundaries;
/// S at or past the end is 400, E past the end ends the clip with the title.
pub fn window(durations: &[f64], clip: &Clip) -> Result<Window, QueryError> {
    let (start, end) = (clip.start(), clip.end());
    let mut at = 0.0f64;
    let mut first = None;
    let mut window_start = 0.0;
    let mut last = None;
    for (i, d) in durations.iter().enumerate() {
        let segment_end = at + d;
        if first.is_none() && start < segment_end - EPSILON {
            first = Some(i);
            window_start = at;
        }
        if first.is_some() && end.is_some_and(|e| e <= segment_end + EPSILON) {
            last = Some(i);
            break;
        }
        at = segment_end;
    }
    let first = first.ok_or(QueryError::StartBeyondEnd)?;
    Ok(Window {
        first,
        last: last.unwrap_or(durations.len().saturating_sub(1)),
        offset: Some((start - window_start).max(0.0)),
        start_cut: None,
        end_cut: None,
    })
}

/// The window of `clip` cut at keyframes (`keyframes[i]`: segment i's keyframe
/// times, ascending, the first at its start). Falls back to `window` when a segment
/// has no keyframe times.
pub fn window_at_keyframes(
    durations: &[f64],
    keyframes: &[Vec<f64>],
    clip: &Clip,
) -> Result<Window, QueryError> {
    let coarse = window(durations, clip)?;
    if keyframes.len() != durations.len() || keyframes.iter().any(|k| k.is_empty()) {
        return Ok(coarse);
    }
    let (start, end) = (clip.start(), clip.end());
    // (segment, time) of every keyframe, in order.
    let all: Vec<(usize, f64)> = keyframes
        .iter()
        .enumerate()
        .flat_map(|(i, ks)| ks.iter().map(move |&t| (i, t)))
        .collect();
    let Some(&(mut first, mut k_start)) = all.first() else {
        return Ok(coarse);
    };
    for &(i, t) in &all {
        if t <= start + EPSILON {
            (first, k_start) = (i, t);
        }
    }
    let segment_start = |i: usize| keyframes.get(i).and_then(|k| k.first()).copied();
    let segment_end =
        |i: usize| segment_start(i).unwrap_or(0.0) + durations.get(i).copied().unwrap_or(0.0);
    let after_end = end.and_then(|e| all.iter().find(|&&(_, t)| t >= e - EPSILON && t > k_start));
    let (last, end_cut) = match after_end {
        // The next segment starts at it: the clip ends with the previous one whole.
        Some(&(i, t)) if segment_start(i) == Some(t) => (i.saturating_sub(1).max(first), None),
        Some(&(i, t)) => (
            i,
            Some(Cut {
                at_ms: (t * 1000.0 + EPSILON).floor().max(0.0) as u64,
                removed: segment_end(i) - t,
            }),
        ),
        None => (durations.len().saturating_sub(1), None),
    };
    let first_start = segment_start(first).unwrap_or(0.0);
    let start_cut = (k_start > first_start + EPSILON).then(|| Cut {
        at_ms: (k_start * 1000.0 - EPSILON).ceil().max(0.0) as u64,
        removed: k_start - first_start,
    });
    Ok(Window {
        first,
        last,
        offset: Some((start - k_start).max(0.0)),
        start_cut,
        end_cut,
    })
}

/// The durations `window` lists of `durations`: its ends shorter by their cuts.
pub fn listed_durations(durations: &[f64], window: &Window) -> Vec<f64> {
    let listed = durations
        .get(window.first..=window.last)
        .unwrap_or_default();
    let count = listed.len();
    listed
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let front = window
                .start_cut
                .filter(|_| i == 0)
                .map_or(0.0, |c| c.removed);
            let back = window
                .end_cut
                .filter(|_| i + 1 == count)
                .map_or(0.0, |c| c.removed);
            d - front - back
        })
        .collect()
}

/// Media playlist of rendition `index`'s stream `suffix` (`av`, `v`, `a<T>`) listing
/// `window` of `durations`; `sd` is carried on every segment URI (`sd=6006ms`) when
/// given.
pub fn media(
    durations: &[f64],
    window: &Window,
    (index, suffix): (usize, &str),
    sd: Option<u64>,
) -> String {
    let extinfs = listed_durations(durations, window);
    let count = extinfs.len();
    let mut out = String::with_capacity(128 + count * 56);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(&extinfs));
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", window.first + 1);
    if let Some(offset) = window.offset {
        let _ = writeln!(out, "#EXT-X-START:TIME-OFFSET={offset:.3},PRECISE=YES");
    }
    for (i, d) in extinfs.iter().enumerate() {
        let k = window.first + i + 1;
        let mut query = Vec::new();
        if let Some(cut) = window.start_cut.filter(|_| i == 0) {
            query.push(format!("start={}", seconds_text(cut.at_ms)));
        }
        if let Some(cut) = window.end_cut.filter(|_| i + 1 == count) {
            query.push(format!("end={}", seconds_text(cut.at_ms)));
        }
        if let Some(ms) = sd {
            query.push(format!("sd={ms}ms"));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let _ = write!(
            out,
            "#EXTINF:{d:.6},\nsegment{k}_{index}_{suffix}.ts{query}\n"
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests;
