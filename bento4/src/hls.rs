//! HLS playlists (RFC 8216) for the plan: the media playlist, the I-frame playlist,
//! and the printf-style name templates for segment files and URLs.

use crate::plan::Plan;
use std::fmt::Write;

/// A name pattern with at most one integer conversion (`%d`, `%5d`, `%05d`; `%%` is a
/// literal percent), as Bento4's `--segment-*-template` options take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    suffix: String,
    /// Width and zero padding of the conversion, or None for a fixed name.
    conversion: Option<(usize, bool)>,
}

impl Template {
    pub fn parse(pattern: &str) -> Result<Template, String> {
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut conversion = None;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let target = if conversion.is_some() {
                &mut suffix
            } else {
                &mut prefix
            };
            if c != '%' {
                target.push(c);
                continue;
            }
            if chars.peek() == Some(&'%') {
                chars.next();
                target.push('%');
                continue;
            }
            let zero = chars.next_if_eq(&'0').is_some();
            let mut width = 0usize;
            while let Some(digit) = chars.next_if(|c| c.is_ascii_digit()) {
                width = width * 10 + digit.to_digit(10).map_or(0, |d| d as usize);
                if width > 32 {
                    return Err(format!("template {pattern:?}: field width too large"));
                }
            }
            let kind = chars.next();
            if !matches!(kind, Some('d') | Some('u') | Some('i')) || conversion.is_some() {
                return Err(format!(
                    "template {pattern:?} must hold at most one %d and no other % conversion"
                ));
            }
            conversion = Some((width, zero));
        }
        Ok(Template {
            prefix,
            suffix,
            conversion,
        })
    }

    /// A name used as is, whatever characters it holds.
    pub fn fixed(name: String) -> Template {
        Template {
            prefix: name,
            suffix: String::new(),
            conversion: None,
        }
    }

    pub fn has_number(&self) -> bool {
        self.conversion.is_some()
    }

    pub fn format(&self, number: u64) -> String {
        match self.conversion {
            None => self.prefix.clone(),
            Some((width, true)) => format!("{}{number:0width$}{}", self.prefix, self.suffix),
            Some((width, false)) => format!("{}{number:width$}{}", self.prefix, self.suffix),
        }
    }
}

/// What the media playlist says about encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine {
    pub uri: String,
    /// Written as IV=0x… when the IV is not the media sequence number.
    pub iv: Option<[u8; 16]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistOptions {
    /// `--hls-version`; raised to what the features used need.
    pub version: u32,
    pub allow_cache: Option<bool>,
    pub key: Option<KeyLine>,
    /// Every segment lives in one file at these byte offsets (`--output-single-file`).
    pub single_file_offsets: Option<Vec<u64>>,
}

/// Segment sizes as written (after any encryption padding), one per plan segment.
pub fn media_playlist(
    plan: &Plan,
    urls: &Template,
    sizes: &[u64],
    options: &PlaylistOptions,
) -> String {
    let byte_ranges = options.single_file_offsets.as_ref();
    let version = options
        .version
        .max(if byte_ranges.is_some() { 4 } else { 3 });
    let mut out = header(plan, version, plan.target_duration(), false);
    // EXT-X-ALLOW-CACHE was removed in protocol version 7.
    if let Some(allow) = options.allow_cache.filter(|_| version < 7) {
        let _ = writeln!(
            out,
            "#EXT-X-ALLOW-CACHE:{}",
            if allow { "YES" } else { "NO" }
        );
    }
    if let Some(key) = &options.key {
        let _ = write!(out, "#EXT-X-KEY:METHOD=AES-128,URI=\"{}\"", key.uri);
        if let Some(iv) = key.iv {
            let _ = write!(out, ",IV=0x{}", hex(&iv));
        }
        out.push('\n');
    }
    for (k, segment) in plan.segments.iter().enumerate() {
        let _ = writeln!(out, "#EXTINF:{:.6},", segment.duration);
        if let Some(offsets) = byte_ranges {
            let offset = offsets.get(k).copied().unwrap_or(0);
            let size = sizes.get(k).copied().unwrap_or(0);
            let _ = writeln!(out, "#EXT-X-BYTERANGE:{size}@{offset}");
        }
        let _ = writeln!(out, "{}", urls.format(segment.number));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// The I-frame playlist: one entry per keyframe, its byte range in its segment file
/// (or in the single file, shifted by `single_file_offsets`).
pub fn iframe_playlist(plan: &Plan, urls: &Template, options: &PlaylistOptions) -> String {
    let iframes = plan.iframes();
    let longest = iframes.iter().map(|i| i.duration).fold(0.0, f64::max);
    let target = (longest.round() as u64).max(1);
    let version = options.version.max(4);
    let mut out = header(plan, version, target, true);
    for iframe in &iframes {
        let Some(segment) = plan.segments.get(iframe.segment) else {
            continue;
        };
        let base = options
            .single_file_offsets
            .as_ref()
            .and_then(|offsets| offsets.get(iframe.segment))
            .copied()
            .unwrap_or(0);
        let _ = writeln!(out, "#EXTINF:{:.6},", iframe.duration);
        let _ = writeln!(
            out,
            "#EXT-X-BYTERANGE:{}@{}",
            iframe.size,
            base + iframe.offset
        );
        let _ = writeln!(out, "{}", urls.format(segment.number));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

fn header(plan: &Plan, version: u32, target: u64, iframes_only: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-PLAYLIST-TYPE:VOD"
    );
    if iframes_only {
        out.push_str("#EXT-X-I-FRAMES-ONLY\n");
    }
    // I-frame entries are keyframes by definition.
    if iframes_only || plan.independent_segments() {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let first = plan.options.first_segment_number;
    let _ = writeln!(
        out,
        "#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}"
    );
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_table() {
        // (pattern, number, expected or None for a parse error)
        let cases = [
            ("segment-%d.ts", 7u64, Some("segment-7.ts")),
            ("seg%05d.ts", 42, Some("seg00042.ts")),
            ("seg%3d.ts", 5, Some("seg  5.ts")),
            ("100%%-%d", 1, Some("100%-1")),
            ("stream.ts", 9, Some("stream.ts")),
            ("a%d%d", 1, None),
            ("a%s", 1, None),
            ("a%", 1, None),
            ("a%999999999999d", 1, None),
        ];
        for (pattern, number, expected) in cases {
            match (Template::parse(pattern), expected) {
                (Ok(t), Some(want)) => assert_eq!(t.format(number), want, "{pattern}"),
                (Err(_), None) => {}
                (got, want) => panic!("{pattern}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn movie() -> crate::media::Movie {
        use crate::media::*;
        let samples = (0..10u64)
            .map(|i| Sample {
                offset: 0,
                size: 100,
                dts: i * 1000,
                cts_offset: 0,
                sync: true,
                duration: 1000,
            })
            .collect();
        let codec = Codec::Avc(AvcConfig {
            fourcc: *b"avc1",
            profile: 66,
            profile_compat: 0,
            level: 30,
            nalu_length_size: 4,
            sps: vec![vec![0x67]],
            pps: vec![vec![0x68]],
            width: 16,
            height: 16,
            depth: 24,
        });
        Movie {
            file: FileInfo::default(),
            time_scale: 1000,
            duration: 10_000,
            fragmented: false,
            tracks: vec![Track {
                id: 1,
                kind: TrackKind::Video,
                flags: 3,
                timescale: 1000,
                duration: 10_000,
                movie_duration: 10_000,
                language: "und".into(),
                name: String::new(),
                display_width: 16.0,
                display_height: 16.0,
                codec,
                edit: EditShift::default(),
                samples,
            }],
        }
    }

    fn plan(movie: &crate::media::Movie, first: u64) -> Plan<'_> {
        use crate::plan::{select_streams, PlanOptions};
        let options = PlanOptions {
            segment_duration: 3.0,
            first_segment_number: first,
            ..PlanOptions::default()
        };
        let streams = select_streams(movie, &options).unwrap();
        Plan::new(movie, options, streams).unwrap()
    }

    #[test]
    fn media_playlist_text() {
        let movie = movie();
        let plan = plan(&movie, 1);
        let urls = Template::parse("seg%d.ts").unwrap();
        let options = PlaylistOptions {
            version: 3,
            allow_cache: Some(false),
            key: Some(KeyLine {
                uri: "k.bin".into(),
                iv: None,
            }),
            single_file_offsets: None,
        };
        let text = media_playlist(&plan, &urls, &[1, 2, 3, 4], &options);
        let expected = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n\
            #EXT-X-ALLOW-CACHE:NO\n#EXT-X-KEY:METHOD=AES-128,URI=\"k.bin\"\n\
            #EXTINF:3.000000,\nseg1.ts\n#EXTINF:3.000000,\nseg2.ts\n\
            #EXTINF:3.000000,\nseg3.ts\n#EXTINF:1.000000,\nseg4.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn byte_ranges_raise_the_version() {
        let movie = movie();
        let plan = plan(&movie, 0);
        let urls = Template::parse("all.ts").unwrap();
        let options = PlaylistOptions {
            version: 3,
            allow_cache: None,
            key: Some(KeyLine {
                uri: "k".into(),
                iv: Some([0xAB; 16]),
            }),
            single_file_offsets: Some(vec![0, 10, 30, 60]),
        };
        let text = media_playlist(&plan, &urls, &[10, 20, 30, 40], &options);
        assert!(text.contains("#EXT-X-VERSION:4\n"), "{text}");
        assert!(text.contains(&format!(",IV=0x{}\n", "ab".repeat(16))));
        assert!(text.contains("#EXTINF:3.000000,\n#EXT-X-BYTERANGE:20@10\nall.ts\n"));
        assert!(text.contains("#EXT-X-BYTERANGE:40@60\nall.ts\n#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn iframe_playlist_lists_every_keyframe() {
        let movie = movie();
        let plan = plan(&movie, 0);
        let urls = Template::parse("s%d.ts").unwrap();
        let options = PlaylistOptions {
            version: 3,
            allow_cache: None,
            key: None,
            single_file_offsets: None,
        };
        let text = iframe_playlist(&plan, &urls, &options);
        assert!(text.starts_with(
            "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n"
        ));
        assert!(text.contains("#EXT-X-TARGETDURATION:1\n"));
        assert_eq!(text.matches("#EXTINF:1.000000,").count(), 10, "{text}");
        // Each keyframe PES: 14 header + 6 AUD + 5 SPS + 5 PPS + 100 sample = 130
        // bytes, one packet beside the 8-byte PCR field; with PAT and PMT, 3 packets.
        assert!(text.contains("#EXT-X-BYTERANGE:564@0\ns0.ts\n"), "{text}");
        assert!(text.contains("#EXT-X-BYTERANGE:564@564\ns0.ts\n"), "{text}");
        assert!(
            text.contains("#EXT-X-BYTERANGE:564@0\ns3.ts\n#EXT-X-ENDLIST\n"),
            "{text}"
        );
    }

    #[test]
    fn independent_only_when_segments_start_on_keyframes() {
        let mut movie = movie();
        let mut samples: Vec<crate::media::Sample> = movie.tracks[0].samples.iter().collect();
        samples[0].sync = false;
        movie.tracks[0].samples = samples.into();
        let plan = plan(&movie, 0);
        let urls = Template::parse("s%d.ts").unwrap();
        let options = PlaylistOptions {
            version: 3,
            allow_cache: None,
            key: None,
            single_file_offsets: None,
        };
        let text = media_playlist(&plan, &urls, &[1, 1, 1, 1], &options);
        assert!(!text.contains("INDEPENDENT"), "{text}");
    }

    #[test]
    fn allow_cache_only_before_version_7() {
        let movie = movie();
        let plan = plan(&movie, 0);
        let urls = Template::parse("s%d.ts").unwrap();
        for (version, present) in [(3, true), (6, true), (7, false)] {
            let options = PlaylistOptions {
                version,
                allow_cache: Some(true),
                key: None,
                single_file_offsets: None,
            };
            let text = media_playlist(&plan, &urls, &[1, 1, 1, 1], &options);
            assert_eq!(text.contains("#EXT-X-ALLOW-CACHE:YES\n"), present, "{text}");
        }
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xAB, 0x10]), "00ab10");
    }
}
