//! CMAF HLS text (RFC 8216 version 7), pure: a track's media playlist with
//! `EXT-X-MAP`, and the master whose video variants share one audio playlist
//! (`EXT-X-MEDIA:TYPE=AUDIO`).

use super::{printed, target_duration, Variant};
use std::fmt::Write;

/// Media playlist of one track: `init` for `EXT-X-MAP`, `segment(K)` per entry (K from 1).
pub fn media(durations: &[f64], init: &str, segment: impl Fn(u64) -> String) -> String {
    track_playlist(durations, None, init, segment)
}

/// A track's playlist; with `ranges`, its I-frame playlist: each entry that byte range
/// of its segment.
fn track_playlist(
    durations: &[f64],
    ranges: Option<&[[u64; 2]]>,
    init: &str,
    segment: impl Fn(u64) -> String,
) -> String {
    let mut out = String::with_capacity(160 + durations.len() * 64);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    if ranges.is_some() {
        out.push_str("#EXT-X-I-FRAMES-ONLY\n");
    }
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(durations));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:1\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init}\"");
    for (i, d) in durations.iter().enumerate() {
        let _ = writeln!(out, "#EXTINF:{:.6},", printed(*d));
        if let Some([offset, size]) = ranges.and_then(|r| r.get(i)) {
            let _ = writeln!(out, "#EXT-X-BYTERANGE:{size}@{offset}");
        }
        let _ = writeln!(out, "{}", segment(i as u64 + 1));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A media playlist ([`media`]) of a `cbcs`-protected track: SAMPLE-AES with the
/// title's key at `key_uri`, from the map on (RFC 8216 4.3.2.4; fMP4 SAMPLE-AES is
/// `cbcs`).
pub fn with_sample_aes_key(playlist: &str, key_uri: &str) -> String {
    let line = format!("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"{key_uri}\",KEYFORMAT=\"identity\"\n");
    match playlist.find("#EXT-X-MAP:") {
        Some(at) => format!("{}{line}{}", &playlist[..at], &playlist[at..]),
        None => playlist.to_string(),
    }
}

/// The I-frame playlist of a video track (`EXT-X-I-FRAMES-ONLY` over its CMAF
/// segments): one entry per segment, its first sample (`iframes[i]`, `[offset, size]`
/// of segment i's file, from the plan) lasting the segment, the init segment in
/// `EXT-X-MAP`. `None` when a segment has no I-frame range (the plan's tool lists
/// none, or a segment does not start with a sync sample): no partial trick play.
pub fn iframes(
    durations: &[f64],
    iframes: &[Option<[u64; 2]>],
    init: &str,
    segment: impl Fn(u64) -> String,
) -> Option<String> {
    if !has_iframes(durations, iframes) {
        return None;
    }
    let ranges: Vec<[u64; 2]> = iframes.iter().copied().collect::<Option<_>>()?;
    Some(track_playlist(durations, Some(&ranges), init, segment))
}

/// Whether every one of the segments (`durations`) has an I-frame range.
pub fn has_iframes(durations: &[f64], iframes: &[Option<[u64; 2]>]) -> bool {
    !durations.is_empty() && iframes.len() == durations.len() && iframes.iter().all(Option::is_some)
}

/// (peak, average) bit rate of an I-frame playlist ([`iframes`]): each I-frame's bytes
/// over the time it stands for, and all of them over the title.
pub fn iframe_bitrates(durations: &[f64], iframes: &[Option<[u64; 2]>]) -> (f64, f64) {
    let mut peak = 0.0f64;
    let (mut bits, mut seconds) = (0.0, 0.0);
    for (d, range) in durations.iter().zip(iframes) {
        let size = range.map_or(0, |[_, size]| size) as f64 * 8.0;
        if *d > 0.0 {
            peak = peak.max(size / d);
        }
        bits += size;
        seconds += d;
    }
    let average = if seconds > 0.0 { bits / seconds } else { 0.0 };
    (peak, average)
}

/// The one audio rendition every variant refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub uri: String,
    pub codec: String,
}

/// Master: the audio group (when there is audio), then the variants by bandwidth.
/// A variant's `codecs` are its video codec; the audio codec is added for it.
/// With no video variant at all, the audio playlist is the one variant.
pub fn master(variants: &[Variant], audio: Option<&Audio>) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let video: Vec<&Variant> = variants.iter().filter(|v| v.resolution.is_some()).collect();
    if let Some(audio) = audio {
        if !video.is_empty() {
            let _ = writeln!(
                out,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"{}\"",
                audio.uri
            );
        }
    }
    let mut listed: Vec<Variant> = video
        .iter()
        .map(|v| {
            let mut v = (*v).clone();
            if let Some(audio) = audio {
                v.codecs.push(audio.codec.clone());
            }
            v
        })
        .collect();
    if listed.is_empty() {
        if let (Some(audio), Some(first)) = (audio, variants.first()) {
            listed.push(Variant {
                uri: audio.uri.clone(),
                codecs: vec![audio.codec.clone()],
                ..first.clone()
            });
        }
    }
    // PROGRAM-ID went away in version 6.
    let text =
        super::master(&listed).replace("#EXT-X-STREAM-INF:PROGRAM-ID=1,", "#EXT-X-STREAM-INF:");
    // Each STREAM-INF names its audio group when there is one.
    let with_group = if audio.is_some() && !video.is_empty() {
        text.lines()
            .map(|l| {
                if l.starts_with("#EXT-X-STREAM-INF:") {
                    format!("{l},AUDIO=\"audio\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    } else {
        text
    };
    out.push_str(with_group.strip_prefix("#EXTM3U\n").unwrap_or(&with_group));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(uri: &str, bandwidth: f64) -> Variant {
        Variant {
            uri: uri.into(),
            bandwidth,
            average_bandwidth: bandwidth / 2.0,
            codecs: vec!["avc1.64001E".into()],
            resolution: Some((640, 360)),
            frame_rate: Some(24.0),
            audio_group: None,
            closed_captions: None,
        }
    }

    #[test]
    fn media_playlist_has_the_map() {
        let text = media(&[6.0, 1.5], "init_0_v.mp4", |k| {
            format!("segment{k}_0_v.m4s")
        });
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"init_0_v.mp4\"\n\
             #EXTINF:6.000000,\nsegment1_0_v.m4s\n#EXTINF:1.500000,\nsegment2_0_v.m4s\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn a_protected_playlist_names_its_key_before_the_map() {
        let text = media(&[6.0], "init_0_v.mp4", |k| format!("segment{k}_0_v.m4s"));
        let keyed = with_sample_aes_key(&text, "/i/a.mp4/key.bin");
        assert!(keyed.contains(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"/i/a.mp4/key.bin\",KEYFORMAT=\"identity\"\n#EXT-X-MAP:URI=\"init_0_v.mp4\"\n"
        ), "{keyed}");
        assert_eq!(
            keyed.replace(
                &keyed[keyed.find("#EXT-X-KEY").unwrap()..keyed.find("#EXT-X-MAP").unwrap()],
                ""
            ),
            text
        );
    }

    #[test]
    fn an_iframe_playlist_lists_each_segments_first_sample() {
        let ranges = [Some([0, 1200]), Some([0, 800])];
        let text = iframes(&[6.0, 1.5], &ranges, "init_2_v.mp4", |k| {
            format!("segment{k}_2_v.m4s")
        })
        .unwrap();
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-MAP:URI=\"init_2_v.mp4\"\n\
             #EXTINF:6.000000,\n#EXT-X-BYTERANGE:1200@0\nsegment1_2_v.m4s\n\
             #EXTINF:1.500000,\n#EXT-X-BYTERANGE:800@0\nsegment2_2_v.m4s\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(
            iframe_bitrates(&[6.0, 1.5], &ranges),
            (800.0 * 8.0 / 1.5, 2000.0 * 8.0 / 7.5)
        );
        let name = |k: u64| format!("s{k}");
        assert_eq!(iframes(&[6.0, 1.5], &[Some([0, 1]), None], "i", name), None);
        assert_eq!(iframes(&[6.0, 1.5], &[], "i", name), None);
    }

    #[test]
    fn variants_share_one_audio_group() {
        let audio = Audio {
            uri: "index_0_a.m3u8".into(),
            codec: "mp4a.40.2".into(),
        };
        let text = master(
            &[
                variant("index_1_v.m3u8", 2e6),
                variant("index_0_v.m3u8", 1e6),
            ],
            Some(&audio),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#EXT-X-VERSION:7");
        assert!(lines[3].starts_with("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\""));
        assert!(lines[3].ends_with("URI=\"index_0_a.m3u8\""));
        assert_eq!(text.matches("AUDIO=\"audio\"").count(), 2);
        assert_eq!(text.matches("CODECS=\"avc1.64001E,mp4a.40.2\"").count(), 2);
        assert!(text.find("index_0_v").unwrap() < text.find("index_1_v").unwrap());
    }

    #[test]
    fn audio_only_is_one_variant() {
        let audio = Audio {
            uri: "index_0_a.m3u8".into(),
            codec: "mp4a.40.2".into(),
        };
        let mut only = variant("unused", 1e5);
        only.resolution = None;
        only.codecs.clear();
        only.frame_rate = None;
        let text = master(&[only], Some(&audio));
        assert!(!text.contains("EXT-X-MEDIA:"));
        assert!(
            text.contains("CODECS=\"mp4a.40.2\"\nindex_0_a.m3u8\n"),
            "{text}"
        );
        assert!(!text.contains("PROGRAM-ID"));
    }
}
