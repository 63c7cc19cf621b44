//! CMAF HLS text (RFC 8216 version 7), pure: a track's media playlist with
//! `EXT-X-MAP`, and the master whose video variants share one audio playlist
//! (`EXT-X-MEDIA:TYPE=AUDIO`).

use super::{printed, target_duration, Variant};
use std::fmt::Write;

/// Media playlist of one track: `init` for `EXT-X-MAP`, `segment(K)` per entry (K from 1).
pub fn media(durations: &[f64], init: &str, segment: impl Fn(u64) -> String) -> String {
    let mut out = String::with_capacity(128 + durations.len() * 40);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(durations));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:1\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init}\"");
    for (i, d) in durations.iter().enumerate() {
        let _ = write!(
            out,
            "#EXTINF:{:.6},\n{}\n",
            printed(*d),
            segment(i as u64 + 1)
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
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
