//! Clipped and query-carrying playlists (pure): which of a title's segments a clip
//! `start=S&end=E` lists, and the media playlist of that window.
//!
//! A clip lists the title's own segments (so no segment is stored twice): the first
//! is the one holding S (it starts at a keyframe at or before S), the last the one
//! holding E; `EXT-X-START` makes playback begin at S inside the first.

use super::target_duration;
use crate::url::query::{Clip, QueryError};
use std::fmt::Write;

/// Segments of a title a clip lists: indexes into its durations, 0-based, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub first: usize,
    pub last: usize,
    /// Seconds from the first listed segment's start to S (`EXT-X-START`); `None`
    /// lists segments without a clip (`sd=` alone).
    pub offset: Option<f64>,
}

/// Tolerance for S or E falling on a boundary through float sums.
const EPSILON: f64 = 1e-6;

/// The window of `clip` over segments of `durations`; S at or past the end is 400.
/// E past the end ends the clip with the title.
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
    })
}

/// Media playlist of rendition `index` listing `window` of `durations`, segment URIs
/// followed by `segment_query` (`sd=6006ms`) when it is not empty.
pub fn media(durations: &[f64], window: &Window, index: usize, segment_query: &str) -> String {
    let listed = durations
        .get(window.first..=window.last)
        .unwrap_or_default();
    let suffix = if segment_query.is_empty() {
        String::new()
    } else {
        format!("?{segment_query}")
    };
    let mut out = String::with_capacity(128 + listed.len() * 48);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(listed));
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", window.first + 1);
    if let Some(offset) = window.offset {
        let _ = writeln!(out, "#EXT-X-START:TIME-OFFSET={offset:.3},PRECISE=YES");
    }
    for (i, d) in listed.iter().enumerate() {
        let k = window.first + i + 1;
        let _ = write!(out, "#EXTINF:{d:.6},\nsegment{k}_{index}_av.ts{suffix}\n");
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(start_ms: u64, end_ms: Option<u64>) -> Clip {
        Clip { start_ms, end_ms }
    }

    #[test]
    fn windows_hold_the_clip() {
        let six = [6.0; 10]; // a 60 s title of 6 s segments
        let cases = [
            (clip(12_000, Some(40_000)), 2, 6, 0.0),
            (clip(13_500, Some(40_000)), 2, 6, 1.5),
            (clip(0, Some(6_000)), 0, 0, 0.0),
            (clip(59_999, None), 9, 9, 5.999),
            (clip(30_000, Some(500_000)), 5, 9, 0.0),
            (clip(11_999, Some(12_001)), 1, 2, 5.999),
        ];
        for (c, first, last, offset) in cases {
            let w = window(&six, &c).unwrap();
            assert_eq!((w.first, w.last), (first, last), "{c:?}");
            let got = w.offset.unwrap();
            assert!((got - offset).abs() < 1e-9, "{c:?}: {got}");
        }
        assert_eq!(
            window(&six, &clip(60_000, None)),
            Err(QueryError::StartBeyondEnd)
        );
        assert_eq!(window(&[], &clip(1, None)), Err(QueryError::StartBeyondEnd));
    }

    #[test]
    fn clipped_media_playlist_text() {
        let durations = [6.0, 6.0, 6.0, 4.5];
        let w = window(&durations, &clip(7_250, Some(13_000))).unwrap();
        assert_eq!(
            media(&durations, &w, 1, ""),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:2\n\
             #EXT-X-START:TIME-OFFSET=1.250,PRECISE=YES\n\
             #EXTINF:6.000000,\nsegment2_1_av.ts\n#EXTINF:6.000000,\nsegment3_1_av.ts\n\
             #EXT-X-ENDLIST\n"
        );
        let whole = Window {
            first: 0,
            last: 3,
            offset: None,
        };
        let text = media(&durations, &whole, 0, "sd=4000ms");
        assert!(text.contains("\nsegment4_0_av.ts?sd=4000ms\n"), "{text}");
        assert!(!text.contains("EXT-X-START"), "{text}");
    }
}
