//! Sidecar WebVTT subtitles (pure): which sidecar a title's language has, its text made
//! fit for HLS (checked, `X-TIMESTAMP-MAP` added), its one-segment media playlist, and
//! the master's `EXT-X-MEDIA:TYPE=SUBTITLES` group.

use std::fmt::Write;

/// Largest sidecar served; a bigger one is left out (and logged) like a broken one.
pub const MAX_SIDECAR_BYTES: usize = 4 << 20;

/// The `GROUP-ID` every variant names with `SUBTITLES=`.
pub const GROUP_ID: &str = "subs";

/// The PTS (90 kHz) of playlist time 0 when no plan says (real Bento4): the tools'
/// default `--pcr-offset`, where the first DTS lies; our tool's plans give the exact
/// value (`pts_zero`: the first frame's PTS, after the B-frame delay).
pub const MPEGTS_AT_ZERO: u64 = 10_000;

/// A language tag as the URLs and the config spell it: BCP 47's shape, lowercase
/// primary subtag of 2-3 letters, optional subtags of 1-8 letters or digits.
pub fn is_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The sidecar of `source` (`dir/title.mp4`) for `language`: `dir/title_<language>.vtt`
/// (MSOD's `<identifier>_<lang>` naming).
pub fn sidecar_path(source: &str, language: &str) -> String {
    let stem = source.strip_suffix(".mp4").unwrap_or(source);
    format!("{stem}_{language}.vtt")
}

pub fn playlist_name(language: &str) -> String {
    format!("subtitles_{language}.m3u8")
}

pub fn file_name(language: &str) -> String {
    format!("subtitles_{language}.vtt")
}

/// Why a sidecar cannot be served; the text to serve when it can: UTF-8 (a BOM
/// dropped), a `WEBVTT` header, and `X-TIMESTAMP-MAP` in the header block so cues line
/// up with the segments' timestamps, `mpegts` being the PTS of playlist time 0 (any
/// map of the sidecar's own is replaced).
pub fn prepare(bytes: &[u8], mpegts: u64) -> Result<String, String> {
    if bytes.len() > MAX_SIDECAR_BYTES {
        return Err(format!("larger than {MAX_SIDECAR_BYTES} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let (header, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = header.lines();
    let first = lines.next().unwrap_or_default();
    let is_header =
        first == "WEBVTT" || first.starts_with("WEBVTT ") || first.starts_with("WEBVTT\t");
    if !is_header {
        return Err("does not start with WEBVTT".into());
    }
    if !body.contains("-->") {
        return Err("has no cue".into());
    }
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(first);
    out.push('\n');
    let _ = writeln!(out, "X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000");
    for line in lines.filter(|l| !l.starts_with("X-TIMESTAMP-MAP")) {
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The media playlist of one language: the whole sidecar as one segment as long as
/// the title (a player fetches it once).
pub fn media_playlist(language: &str, duration: f64) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    let _ = writeln!(
        out,
        "#EXT-X-TARGETDURATION:{}",
        duration.max(1.0).ceil() as u64
    );
    out.push_str("#EXT-X-MEDIA-SEQUENCE:1\n");
    let _ = writeln!(out, "#EXTINF:{duration:.6},\n{}", file_name(language));
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One subtitle rendition of a master.
#[derive(Debug, Clone, PartialEq)]
pub struct Subtitle {
    pub language: String,
    pub uri: String,
    pub default: bool,
}

/// `master` with a `SUBTITLES` group: one `EXT-X-MEDIA` per subtitle after the header,
/// and every `EXT-X-STREAM-INF` naming the group. Unchanged when there is none.
pub fn with_group(master: &str, subtitles: &[Subtitle]) -> String {
    if subtitles.is_empty() {
        return master.to_string();
    }
    let mut out = String::with_capacity(master.len() + subtitles.len() * 160);
    for line in master.lines() {
        if let Some(attributes) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:{attributes},SUBTITLES=\"{GROUP_ID}\""
            );
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "#EXTM3U" {
            for s in subtitles {
                let yes_no = |b: bool| if b { "YES" } else { "NO" };
                let _ = writeln!(
                    out,
                    "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{GROUP_ID}\",LANGUAGE=\"{}\",NAME=\"{}\",DEFAULT={},AUTOSELECT=YES,FORCED=NO,URI=\"{}\"",
                    s.language,
                    language_name(&s.language),
                    yes_no(s.default),
                    s.uri
                );
            }
        }
    }
    out
}

/// A human name for the common languages; the tag itself otherwise.
pub(crate) fn language_name(tag: &str) -> &str {
    let primary = tag.split('-').next().unwrap_or(tag);
    match primary {
        "en" | "eng" => "English",
        "fr" | "fra" | "fre" => "Français",
        "de" | "deu" | "ger" => "Deutsch",
        "es" | "spa" => "Español",
        "it" | "ita" => "Italiano",
        "nl" | "nld" | "dut" => "Nederlands",
        "pt" | "por" => "Português",
        "sv" | "swe" => "Svenska",
        "da" | "dan" => "Dansk",
        "no" | "nor" | "nb" | "nob" => "Norsk",
        "fi" | "fin" => "Suomi",
        "pl" | "pol" => "Polski",
        "ja" | "jpn" => "日本語",
        "zh" | "zho" | "chi" => "中文",
        "ar" | "ara" => "العربية",
        _ => tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_tag_shaped() {
        for good in ["en", "fr", "eng", "pt-BR", "zh-Hant"] {
            assert!(is_language(good), "{good}");
        }
        for bad in [
            "",
            "e",
            "EN",
            "english",
            "en_",
            "en-",
            "en-toolongsubtag",
            "../x",
        ] {
            assert!(!is_language(bad), "{bad}");
        }
        assert_eq!(sidecar_path("a/b.mp4", "fr"), "a/b_fr.vtt");
    }

    #[test]
    fn a_sidecar_gets_its_timestamp_map_and_keeps_its_cues() {
        let vtt = "\u{feff}WEBVTT\r\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\r\n\r\n00:00:01.000 --> 00:00:02.000\r\nHello\r\n";
        let out = prepare(vtt.as_bytes(), 10_000).unwrap();
        assert_eq!(
            out,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:10000,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:02.000\nHello\n"
        );
    }

    #[test]
    fn broken_sidecars_are_refused_with_a_reason() {
        assert!(prepare(b"\xff\xfeWEBVTT\n\n", 0)
            .unwrap_err()
            .contains("UTF-8"));
        assert!(prepare(b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", 0)
            .unwrap_err()
            .contains("WEBVTT"));
        assert!(prepare(b"WEBVTT\n\nno cues here\n", 0)
            .unwrap_err()
            .contains("cue"));
        let huge = vec![b'a'; MAX_SIDECAR_BYTES + 1];
        assert!(prepare(&huge, 0).unwrap_err().contains("larger"));
    }

    #[test]
    fn the_master_names_the_group_on_every_variant() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n";
        let subs = [
            Subtitle {
                language: "en".into(),
                uri: "subtitles_en.m3u8".into(),
                default: false,
            },
            Subtitle {
                language: "fr".into(),
                uri: "subtitles_fr.m3u8".into(),
                default: true,
            },
        ];
        let out = with_group(master, &subs);
        assert_eq!(out.matches("SUBTITLES=\"subs\"").count(), 2, "{out}");
        assert_eq!(out.matches("TYPE=SUBTITLES").count(), 2, "{out}");
        assert_eq!(out.matches("DEFAULT=YES").count(), 1, "{out}");
        assert!(
            out.contains("LANGUAGE=\"fr\",NAME=\"Français\",DEFAULT=YES"),
            "{out}"
        );
        assert!(!out.contains("I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\",SUBTITLES"));
        assert_eq!(with_group(master, &[]), master);
    }

    #[test]
    fn the_playlist_is_one_segment_as_long_as_the_title() {
        let text = media_playlist("en", 30.0);
        assert!(text.contains("#EXT-X-TARGETDURATION:30\n"), "{text}");
        assert!(
            text.contains("#EXTINF:30.000000,\nsubtitles_en.vtt\n"),
            "{text}"
        );
    }
}
