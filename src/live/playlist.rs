//! Live playlist text (pure): what a publisher's media playlist lists, ENDLIST
//! appended to mark a stream ended, and a recording's VOD media and master playlists.

/// One segment of a live media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSegment {
    /// Media sequence number (`EXT-X-MEDIA-SEQUENCE` plus its index).
    pub sequence: u64,
    pub duration: f64,
    /// The URI as written: a file name beside the playlist for ffmpeg's output.
    pub uri: String,
    /// An `EXT-X-DISCONTINUITY` precedes it.
    pub discontinuity: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LivePlaylist {
    pub target_duration: u64,
    pub media_sequence: u64,
    pub segments: Vec<LiveSegment>,
    pub ended: bool,
    /// A master playlist (variants), not a media playlist.
    pub master: bool,
    /// A master's variant URIs, in order.
    pub variants: Vec<String>,
    /// Each variant's `EXT-X-STREAM-INF` attribute list, as written.
    pub variant_attributes: Vec<String>,
}

/// Reads a media playlist; `None` when the text is not a playlist at all. Unknown
/// tags are ignored; a duration that does not parse makes the segment 0 s long.
pub fn parse(text: &str) -> Option<LivePlaylist> {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some("#EXTM3U") {
        return None;
    }
    let mut list = LivePlaylist::default();
    let mut duration = None;
    let mut discontinuity = false;
    let mut stream_inf = String::new();
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            list.target_duration = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            list.media_sequence = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let number = v.split(',').next().unwrap_or("").trim();
            duration = Some(
                number
                    .parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .unwrap_or(0.0),
            );
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if line == "#EXT-X-ENDLIST" {
            list.ended = true;
        } else if let Some(attributes) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            list.master = true;
            stream_inf = attributes.to_string();
        } else if !line.is_empty() && !line.starts_with('#') {
            if list.master && duration.is_none() {
                list.variants.push(line.to_string());
                list.variant_attributes
                    .push(std::mem::take(&mut stream_inf));
            } else if let Some(duration) = duration.take() {
                let sequence = list.media_sequence + list.segments.len() as u64;
                list.segments.push(LiveSegment {
                    sequence,
                    duration,
                    uri: line.to_string(),
                    discontinuity,
                });
                discontinuity = false;
            }
        }
    }
    Some(list)
}

/// The playlist with `#EXT-X-ENDLIST` appended (unchanged when it has one).
pub fn with_endlist(text: &str) -> String {
    let mut out = text.to_string();
    if parse(text).is_some_and(|l| l.ended) {
        return out;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A recorded segment: its file name in the recording dir and what it lasts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedSegment {
    pub name: String,
    pub duration: f64,
    pub bytes: u64,
    /// The publisher restarted before this segment (its numbering went back).
    pub discontinuity: bool,
}

/// The VOD media playlist of a finished recording.
pub fn vod(segments: &[RecordedSegment]) -> String {
    let target = segments
        .iter()
        .map(|s| s.duration.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    for (i, s) in segments.iter().enumerate() {
        if s.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        out.push_str(&format!("#EXTINF:{:.3},\n{}\n", s.duration, s.name));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One rendition of a recording as its master lists it.
pub struct RecordedVariant<'a> {
    /// Its VOD media playlist, beside the master.
    pub uri: &'a str,
    /// The live master's `EXT-X-STREAM-INF` attributes of the rendition, if any.
    pub live_attributes: Option<&'a str>,
    pub segments: &'a [RecordedSegment],
}

/// The master of a recording: a variant per rendition, its `BANDWIDTH` the peak
/// segment bit rate recorded (what the publisher announced is an estimate), and the
/// live master's `RESOLUTION`, `CODECS` and `FRAME-RATE` of it, the only attributes
/// that still hold without the live master's groups.
pub fn master(variants: &[RecordedVariant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for v in variants {
        let peak = v
            .segments
            .iter()
            .filter(|s| s.duration > 0.0)
            .map(|s| (s.bytes as f64 * 8.0 / s.duration) as u64)
            .max()
            .unwrap_or(0)
            .max(1);
        out.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH={peak}"));
        for (name, value) in attribute_list(v.live_attributes.unwrap_or_default()) {
            if ["RESOLUTION", "CODECS", "FRAME-RATE"].contains(&name) {
                out.push_str(&format!(",{name}={value}"));
            }
        }
        out.push('\n');
        out.push_str(v.uri);
        out.push('\n');
    }
    out
}

/// An HLS attribute list as (name, value as written, quotes included) pairs; a
/// quoted value may hold commas. What does not parse is left out.
fn attribute_list(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once('=') {
        let end = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(close) => close + 2,
                None => break,
            },
            None => after.find(',').unwrap_or(after.len()),
        };
        let name = name.trim();
        let well_formed = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if well_formed {
            out.push((name, &after[..end]));
        }
        rest = after[end..].strip_prefix(',').unwrap_or(&after[end..]);
    }
    out
}

/// Total duration of a recording's segments, in seconds.
pub fn duration(segments: &[RecordedSegment]) -> f64 {
    segments.iter().map(|s| s.duration).sum()
}

/// A stream name as the nginx location accepts it (`nginx_conf::live::PATH_PATTERN`).
pub fn valid_stream(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A segment URI this watcher follows: a plain file name beside the playlist.
pub fn plain_file_name(uri: &str) -> bool {
    !uri.is_empty()
        && uri.len() <= 128
        && !uri.starts_with('.')
        && uri
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.000000,\nindex7.ts\n#EXT-X-DISCONTINUITY\n\
        #EXTINF:1.960000,\nindex8.ts\n";

    #[test]
    fn parses_a_live_window() {
        let list = parse(LIVE).unwrap();
        assert_eq!(list.target_duration, 2);
        assert_eq!(list.media_sequence, 7);
        assert!(!list.ended && !list.master);
        assert_eq!(list.segments.len(), 2);
        assert_eq!(list.segments[1].sequence, 8);
        assert_eq!(list.segments[1].uri, "index8.ts");
        assert!(list.segments[1].discontinuity && !list.segments[0].discontinuity);
        assert!((list.segments[1].duration - 1.96).abs() < 1e-9);
    }

    #[test]
    fn not_a_playlist_and_bad_numbers() {
        assert_eq!(parse("hello"), None);
        let list = parse("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n#EXTINF:nan,\na.ts\n").unwrap();
        assert_eq!(list.media_sequence, 0);
        assert_eq!(list.segments[0].duration, 0.0);
        assert!(
            parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n")
                .unwrap()
                .master
        );
    }

    #[test]
    fn endlist_is_appended_once() {
        let ended = with_endlist(LIVE);
        assert!(ended.ends_with("index8.ts\n#EXT-X-ENDLIST\n"));
        assert_eq!(with_endlist(&ended), ended);
        assert!(parse(&ended).unwrap().ended);
        assert_eq!(with_endlist("#EXTM3U"), "#EXTM3U\n#EXT-X-ENDLIST\n");
    }

    #[test]
    fn vod_playlist_marks_restarts() {
        let seg = |name: &str, d: f64, disc| RecordedSegment {
            name: name.into(),
            duration: d,
            bytes: 250_000,
            discontinuity: disc,
        };
        let segs = [
            seg("seg0.ts", 2.0, true),
            seg("seg1.ts", 2.5, false),
            seg("seg2.ts", 2.0, true),
        ];
        let text = vod(&segs);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n"));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY").count(), 1, "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg2.ts\n"));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(duration(&segs), 6.5);
        let one = RecordedVariant {
            uri: "index_0_av.m3u8",
            live_attributes: None,
            segments: &segs,
        };
        assert_eq!(
            master(&[one]),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nindex_0_av.m3u8\n"
        );
    }

    #[test]
    fn a_recorded_master_keeps_what_the_live_one_said_of_each_rendition() {
        let live = "#EXTM3U\n#EXT-X-VERSION:3\n\
            #EXT-X-STREAM-INF:BANDWIDTH=140800,RESOLUTION=320x240,CODECS=\"avc1.640015,mp4a.40.2\",AUDIO=\"a\"\n\
            index_0.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=70400,FRAME-RATE=25.000,bogus,x=1\nindex_1.m3u8\n";
        let list = parse(live).unwrap();
        assert_eq!(list.variants, ["index_0.m3u8", "index_1.m3u8"]);
        assert_eq!(list.variant_attributes.len(), 2);
        let seg = |bytes| RecordedSegment {
            name: "seg0.ts".into(),
            duration: 2.0,
            bytes,
            discontinuity: false,
        };
        let (high, low) = ([seg(50_000)], [seg(25_000)]);
        let text = master(&[
            RecordedVariant {
                uri: "index_0_av.m3u8",
                live_attributes: Some(&list.variant_attributes[0]),
                segments: &high,
            },
            RecordedVariant {
                uri: "index_1_av.m3u8",
                live_attributes: Some(&list.variant_attributes[1]),
                segments: &low,
            },
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=320x240,CODECS=\"avc1.640015,mp4a.40.2\"\nindex_0_av.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=100000,FRAME-RATE=25.000\nindex_1_av.m3u8\n"
        );
        assert_eq!(attribute_list("CODECS=\"unclosed"), []);
    }

    #[test]
    fn names() {
        assert!(valid_stream("s1") && valid_stream("a_b-C"));
        for bad in ["", "..", "a/b", "a\0b", "a.b", &"x".repeat(65)] {
            assert!(!valid_stream(bad), "{bad:?}");
        }
        assert!(plain_file_name("index12.ts"));
        for bad in ["../x.ts", "a/b.ts", ".hidden", "http://x/a.ts", ""] {
            assert!(!plain_file_name(bad), "{bad:?}");
        }
    }
}
