//! HLS playlist text (RFC 8216), pure: media playlists from segment durations,
//! master playlists from variants, and a reader for Bento4's media playlists.
//!
//! The media playlist is written here from durations whichever way they were
//! obtained (JIT plan or a whole Bento4 run), so both modes serve the same text.

pub mod audio;
pub mod captions;
pub mod clip;
pub mod iframes;
pub mod subtitles;
pub mod token_variable;

use std::fmt::Write;

pub mod cmaf;

/// EXTINF is written with 6 decimals; clients round *that* value, so we do too.
fn printed(duration: f64) -> f64 {
    (duration * 1e6).round() / 1e6
}

/// `EXT-X-TARGETDURATION`: the largest EXTINF rounded to the nearest integer
/// (RFC 8216 4.3.3.1), at least 1.
pub fn target_duration(durations: &[f64]) -> u64 {
    durations
        .iter()
        .map(|&d| printed(d).round())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .fold(1.0f64, f64::max) as u64
}

/// Media playlist of rendition `index` (URIs `segment<K>_<index>_av.ts`, K from 1).
pub fn media(durations: &[f64], index: usize) -> String {
    media_of_stream(durations, index, "av")
}

/// As [`media`], for the stream whose names end in `_<suffix>` (`v`, `a<T>`).
pub fn media_of_stream(durations: &[f64], index: usize, suffix: &str) -> String {
    let mut out = String::with_capacity(64 + durations.len() * 40);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(durations));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:1\n");
    for (i, d) in durations.iter().enumerate() {
        let _ = write!(
            out,
            "#EXTINF:{:.6},\nsegment{}_{index}_{suffix}.ts\n",
            d,
            i + 1
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// `text` (a media playlist) with its segments AES-128 encrypted under the key at
/// `key_uri`: one `EXT-X-KEY` before the first segment. No IV attribute: each
/// segment's IV is then its media sequence number (RFC 8216 5.2), which is the
/// segment number the tool encrypted it with.
pub fn with_key(text: &str, key_uri: &str) -> String {
    let tag = format!("#EXT-X-KEY:METHOD=AES-128,URI=\"{key_uri}\"\n");
    let mut out = String::with_capacity(text.len() + tag.len());
    let mut placed = false;
    for line in text.split_inclusive('\n') {
        if !placed && line.starts_with("#EXTINF:") {
            out.push_str(&tag);
            placed = true;
        }
        out.push_str(line);
    }
    out
}

/// One `#EXT-X-STREAM-INF` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak segment bit rate, bit/s.
    pub bandwidth: f64,
    /// Mean segment bit rate, bit/s.
    pub average_bandwidth: f64,
    /// RFC 6381 codec strings, video first.
    pub codecs: Vec<String>,
    /// Width and height; `None` for audio-only.
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// The `EXT-X-MEDIA` audio group it plays with (alternate audio; `None`: muxed).
    pub audio_group: Option<String>,
    /// `CLOSED-CAPTIONS`: a group id, or `NONE` when the video has none (Apple's rule);
    /// `None` when nobody looked.
    pub closed_captions: Option<String>,
}

/// The order a master lists its variants in: BANDWIDTH ascending, stable for ties.
pub fn sorted_by_bandwidth(variants: &[Variant]) -> Vec<&Variant> {
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by(|a, b| a.bandwidth.total_cmp(&b.bandwidth));
    sorted
}

/// Master playlist, variants sorted by BANDWIDTH ascending (stable for ties).
pub fn master(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n");
    for v in sorted_by_bandwidth(variants) {
        // BANDWIDTH is an upper bound: round up.
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH={},AVERAGE-BANDWIDTH={}",
            v.bandwidth.max(0.0).ceil() as u64,
            v.average_bandwidth.max(0.0).ceil() as u64
        );
        if !v.codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", v.codecs.join(","));
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(rate) = v.frame_rate.filter(|r| r.is_finite() && *r > 0.0) {
            let _ = write!(out, ",FRAME-RATE={rate:.3}");
        }
        if let Some(group) = &v.audio_group {
            let _ = write!(out, ",AUDIO=\"{group}\"");
        }
        match v.closed_captions.as_deref() {
            Some("NONE") => out.push_str(",CLOSED-CAPTIONS=NONE"),
            Some(group) => {
                let _ = write!(out, ",CLOSED-CAPTIONS=\"{group}\"");
            }
            None => {}
        }
        let _ = write!(out, "\n{}\n", v.uri);
    }
    out
}

/// Where a master's variant points: relative to the master's dir unless a
/// public base URL is configured. `key` is the rendition's cache key
/// (`i/a/b.mp4`), `from_csmil` says whether the master lives in a csmil dir.
pub fn variant_uri(public_base_url: &str, key: &str, name: &str, from_csmil: bool) -> String {
    rendition_file_uri(public_base_url, key, name, from_csmil, "index_0_av.m3u8")
}

/// As [`variant_uri`], for any file of the rendition's dir (`iframes_0_av.m3u8`).
pub fn rendition_file_uri(
    public_base_url: &str,
    key: &str,
    name: &str,
    from_csmil: bool,
    file: &str,
) -> String {
    use crate::url::encode_path;
    if !public_base_url.is_empty() {
        format!(
            "{}/{}/{file}",
            public_base_url.trim_end_matches('/'),
            encode_path(key)
        )
    } else if from_csmil {
        format!("../{}/{file}", encode_path(name))
    } else {
        file.to_string()
    }
}

/// Segment durations and URIs of a media playlist (as Bento4's `mp42hls` writes).
pub fn parse_media(text: &str) -> Result<Vec<(f64, String)>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("playlist does not start with #EXTM3U".into());
    }
    let mut segments = Vec::new();
    let mut pending: Option<f64> = None;
    let mut ended = false;
    for line in lines {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            if pending.is_some() {
                return Err("#EXTINF without a URI".into());
            }
            let value = rest.split(',').next().unwrap_or("");
            let d: f64 = value
                .parse()
                .map_err(|_| format!("bad #EXTINF duration {value:?}"))?;
            if !d.is_finite() || d <= 0.0 {
                return Err(format!("bad #EXTINF duration {value:?}"));
            }
            pending = Some(d);
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if line.starts_with('#') {
            continue;
        } else {
            let d = pending
                .take()
                .ok_or_else(|| format!("URI {line:?} without #EXTINF"))?;
            segments.push((d, line.to_string()));
        }
    }
    if pending.is_some() {
        return Err("#EXTINF without a URI".into());
    }
    if !ended {
        return Err("playlist has no #EXT-X-ENDLIST".into());
    }
    if segments.is_empty() {
        return Err("playlist has no segments".into());
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_comes_once_before_the_first_segment() {
        let text = super::with_key(&super::media(&[6.0, 4.0], 0), "../a.mp4/aes128.key");
        let key = "#EXT-X-KEY:METHOD=AES-128,URI=\"../a.mp4/aes128.key\"\n";
        assert_eq!(text.matches("#EXT-X-KEY").count(), 1);
        assert!(text.contains(&format!(
            "#EXT-X-MEDIA-SEQUENCE:1\n{key}#EXTINF:6.000000,\n"
        )));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    }

    use super::*;

    #[test]
    fn target_duration_rounds_to_nearest() {
        let cases: &[(&[f64], u64)] = &[
            (&[6.0, 6.0, 2.5], 6),
            (&[7.916667, 6.0], 8),
            (&[6.499999], 6),
            (&[6.4999996], 7), // printed as 6.500000
            (&[0.2], 1),
            (&[], 1),
        ];
        for (durations, expected) in cases {
            assert_eq!(target_duration(durations), *expected, "{durations:?}");
        }
    }

    #[test]
    fn media_playlist_text() {
        let text = media(&[6.0, 4.041667], 2);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXTINF:6.000000,\nsegment1_2_av.ts\n#EXTINF:4.041667,\nsegment2_2_av.ts\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn master_sorts_by_bandwidth_and_omits_video_fields_for_audio() {
        let v = |uri: &str, bw: f64, res: Option<(u32, u32)>| Variant {
            uri: uri.into(),
            bandwidth: bw,
            average_bandwidth: bw * 0.9,
            codecs: if res.is_some() {
                vec!["avc1.64001F".into(), "mp4a.40.2".into()]
            } else {
                vec!["mp4a.40.2".into()]
            },
            resolution: res,
            frame_rate: res.map(|_| 24.0),
            audio_group: None,
            closed_captions: None,
        };
        let text = master(&[
            v("hi", 1_156_684.2, Some((1280, 720))),
            v("lo", 622_044.0, Some((854, 480))),
            v("aud", 130_000.0, None),
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n\
             #EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=130000,AVERAGE-BANDWIDTH=117000,CODECS=\"mp4a.40.2\"\naud\n\
             #EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=622044,AVERAGE-BANDWIDTH=559840,CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=854x480,FRAME-RATE=24.000\nlo\n\
             #EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=1156685,AVERAGE-BANDWIDTH=1041016,CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=24.000\nhi\n"
        );
    }

    #[test]
    fn variant_uris() {
        let cases = [
            ("", "i/a/b.mp4", "b.mp4", false, "index_0_av.m3u8"),
            (
                "",
                "i/a/p lo.mp4",
                "p lo.mp4",
                true,
                "../p%20lo.mp4/index_0_av.m3u8",
            ),
            (
                "https://cdn.example/",
                "i/a/p lo.mp4",
                "p lo.mp4",
                true,
                "https://cdn.example/i/a/p%20lo.mp4/index_0_av.m3u8",
            ),
        ];
        for (base, key, name, csmil, expected) in cases {
            assert_eq!(variant_uri(base, key, name, csmil), expected);
        }
    }

    #[test]
    fn parses_bento4_reference_playlist() {
        // Real Bento4's output, kept in the repository beside the tools' own tests.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("bento4/tests/mp42hls_reference/a_720p_60s.d6.m3u8");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reference {}: {e}", path.display()));
        let segments = parse_media(&text).unwrap();
        assert_eq!(segments.len(), 10);
        assert_eq!(segments[0].1, "segment0.ts");
        let total: f64 = segments.iter().map(|s| s.0).sum();
        assert!((total - 60.0).abs() < 0.1, "{total}");
    }

    #[test]
    fn rejects_broken_playlists() {
        let cases = [
            "",
            "#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n",
            "#EXTM3U\n#EXTINF:6,\na.ts\n",
            "#EXTM3U\n#EXTINF:x,\na.ts\n#EXT-X-ENDLIST\n",
            "#EXTM3U\n#EXTINF:-1,\na.ts\n#EXT-X-ENDLIST\n",
            "#EXTM3U\n#EXTINF:NaN,\na.ts\n#EXT-X-ENDLIST\n",
            "#EXTM3U\na.ts\n#EXT-X-ENDLIST\n",
            "#EXTM3U\n#EXTINF:6,\n#EXT-X-ENDLIST\n",
            "#EXTM3U\n#EXT-X-ENDLIST\n",
        ];
        for text in cases {
            assert!(parse_media(text).is_err(), "{text:?}");
        }
    }
}
