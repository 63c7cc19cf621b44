//! Sidecar subtitles (pure): which sidecar a title's language has (WebVTT, or SubRip
//! turned into WebVTT), its text made fit for HLS (cue timing checked,
//! `X-TIMESTAMP-MAP` added), its one-segment media playlist, and the master's
//! `EXT-X-MEDIA:TYPE=SUBTITLES` group.

mod cues;
mod ttml;

use super::clip::Window;
use crate::config::FilePattern;
use crate::url::query::sidecar::SidecarExt;

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

/// Where a title's sidecars are and what they are named after (MSOD's naming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SidecarNaming<'a> {
    /// From the media root, no trailing `/` (`""`: the root).
    pub dir: &'a str,
    /// The media identifier: the title's name, or a csmil's common prefix.
    pub identifier: &'a str,
    pub pattern: FilePattern,
}

/// The dir and the name without `.mp4` of `source` (`dir/title.mp4` → `dir`, `title`).
pub fn title_dir_and_name(source: &str) -> (&str, &str) {
    let stem = source.strip_suffix(".mp4").unwrap_or(source);
    stem.rsplit_once('/').unwrap_or(("", stem))
}

/// The sidecar for `language` with extension `ext` (`vtt`, or `srt` when there is no
/// WebVTT one): `dir/<identifier>_<language>.vtt` or `dir/<language>_<identifier>.vtt`.
pub fn sidecar_path(naming: &SidecarNaming, language: &str, ext: &str) -> String {
    let dir = match naming.dir {
        "" => String::new(),
        dir => format!("{dir}/"),
    };
    let identifier = naming.identifier;
    match naming.pattern {
        FilePattern::IdentifierLang => format!("{dir}{identifier}_{language}.{ext}"),
        FilePattern::LangIdentifier => format!("{dir}{language}_{identifier}.{ext}"),
    }
}

/// A sidecar's bytes as text: at most [`MAX_SIDECAR_BYTES`], UTF-8, a BOM dropped, lines
/// ending in LF.
fn sidecar_text(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() > MAX_SIDECAR_BYTES {
        return Err(format!("larger than {MAX_SIDECAR_BYTES} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// [`prepare`] for a sidecar in `format`: SubRip and DFXP/TTML converted to WebVTT
/// first.
pub fn prepare_sidecar(format: SidecarExt, bytes: &[u8], mpegts: u64) -> Result<String, String> {
    let webvtt = match format {
        SidecarExt::Vtt => return prepare(bytes, mpegts),
        SidecarExt::Srt => cues::srt_to_webvtt(&sidecar_text(bytes)?)?,
        SidecarExt::Dfxp | SidecarExt::Ttml | SidecarExt::Xml => {
            ttml::ttml_to_webvtt(&sidecar_text(bytes)?)?
        }
    };
    prepare(webvtt.as_bytes(), mpegts)
}

pub fn playlist_name(language: &str) -> String {
    format!("subtitles_{language}.m3u8")
}

/// Segment K (from 1) of a subtitle rendition: `subtitles_<stem>_<K>.vtt`.
pub fn segment_name(stem: &str, k: usize) -> String {
    format!("subtitles_{stem}_{k}.vtt")
}

/// The whole WebVTT of a subtitle rendition (a DASH MPD's text Representation).
pub fn whole_name(stem: &str) -> String {
    format!("subtitles_{stem}.vtt")
}

/// A prepared text ([`prepare`]) as one file whose time 0 lies `shift_ms` before the
/// title's (the DASH period's start): cues moved, no timestamp map.
pub fn whole_text(prepared: &str, shift_ms: u64) -> String {
    cues::shifted(prepared, shift_ms)
}

/// Why a sidecar cannot be served; the text to serve when it can: UTF-8 (a BOM
/// dropped), a `WEBVTT` header, and `X-TIMESTAMP-MAP` in the header block so cues line
/// up with the segments' timestamps, `mpegts` being the PTS of playlist time 0 (any
/// map of the sidecar's own is replaced).
pub fn prepare(bytes: &[u8], mpegts: u64) -> Result<String, String> {
    let text = sidecar_text(bytes)?;
    let (header, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = header.lines();
    let first = lines.next().unwrap_or_default();
    let is_header =
        first == "WEBVTT" || first.starts_with("WEBVTT ") || first.starts_with("WEBVTT\t");
    if !is_header {
        return Err("does not start with WEBVTT".into());
    }
    if cues::check_webvtt_cues(body)? == 0 {
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

/// The media playlist of one subtitle rendition: one WebVTT segment per media segment
/// of the title, with the same durations, so a player fetches the cues of the time it
/// plays and the targets match the video's; each URI with `query` (the sidecar's
/// overrides, canonical) when there is one. A clip's (`window`) lists the segments its
/// video playlist lists, with their durations, its ends the title's whole WebVTT
/// segments (cues are placed by the timestamp map, so the extra ones lie outside the
/// clip and no clip needs files of its own).
pub fn media_playlist(
    stem: &str,
    durations: &[f64],
    window: Option<&Window>,
    query: &str,
) -> String {
    let query = match query {
        "" => String::new(),
        query => format!("?{query}"),
    };
    let whole = Window::whole(durations.len());
    let window = window.unwrap_or(&whole);
    let listed = super::clip::listed_durations(durations, window);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    let _ = writeln!(
        out,
        "#EXT-X-TARGETDURATION:{}",
        super::target_duration(&listed)
    );
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", window.first + 1);
    for (i, d) in listed.iter().enumerate() {
        let k = window.first + i + 1;
        let _ = writeln!(out, "#EXTINF:{d:.6},\n{}{query}", segment_name(stem, k));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Segment K (from 1) of a prepared WebVTT text ([`prepare`]) over a title cut into
/// `durations`: its header (the timestamp map included) and every cue that overlaps
/// the segment's time, so a cue across a boundary is in both segments (players drop
/// the repeat). `None` when K is not a segment.
pub fn segment(prepared: &str, durations: &[f64], k: usize) -> Option<String> {
    let index = k.checked_sub(1).filter(|&i| i < durations.len())?;
    let start: f64 = durations.iter().take(index).sum();
    let end = start + durations.get(index)?;
    // Milliseconds, as cues are timed; the last segment runs to any cue's end.
    let (from, to) = (
        (start * 1000.0).round() as u64,
        (end * 1000.0).round() as u64,
    );
    let last = index + 1 == durations.len();
    Some(cues::window(
        prepared,
        from,
        if last { u64::MAX } else { to },
    ))
}

/// One subtitle rendition of a master.
#[derive(Debug, Clone, PartialEq)]
pub struct Subtitle {
    /// BCP 47.
    pub language: String,
    pub name: String,
    pub uri: String,
    pub default: bool,
    pub forced: bool,
}

/// A sidecar's or track's entry before [`group`] picks the default.
pub fn subtitle(language: &str, own_name: &str, uri: String) -> Subtitle {
    let own = own_name.trim();
    let generic = own.is_empty()
        || own.eq_ignore_ascii_case("SubtitleHandler")
        || own.to_ascii_lowercase().ends_with("text handler")
        || own.to_ascii_lowercase().ends_with("subtitle handler");
    let name = if generic {
        language_name(language).to_string()
    } else {
        own.to_string()
    };
    Subtitle {
        language: language.to_string(),
        name,
        uri,
        default: false,
        forced: false,
    }
}

/// The group as a master lists it: one `DEFAULT=YES`, the first subtitle in
/// `default_language` (none when empty or absent), `FORCED=YES` on those in a forced
/// language, and NAMEs made unique (HLS requires it) by the position of a later
/// namesake.
pub fn group(
    mut subtitles: Vec<Subtitle>,
    default_language: &str,
    forced: &[String],
) -> Vec<Subtitle> {
    let same =
        |a: &str, b: &str| super::audio::bcp47(a).eq_ignore_ascii_case(&super::audio::bcp47(b));
    for s in subtitles.iter_mut() {
        s.forced = forced.iter().any(|f| same(&s.language, f));
    }
    if !default_language.is_empty() {
        if let Some(s) = subtitles
            .iter_mut()
            .find(|s| same(&s.language, default_language))
        {
            s.default = true;
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, s) in subtitles.iter_mut().enumerate() {
        if seen.contains(&s.name) {
            s.name = format!("{} ({})", s.name, i + 1);
        }
        seen.push(s.name.clone());
    }
    subtitles
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
                    "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{GROUP_ID}\",LANGUAGE=\"{}\",NAME=\"{}\",DEFAULT={},AUTOSELECT=YES,FORCED={},URI=\"{}\"",
                    s.language,
                    s.name.replace('"', "'"),
                    yes_no(s.default),
                    yes_no(s.forced),
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
        let path = |source, pattern, ext| {
            let (dir, identifier) = title_dir_and_name(source);
            let naming = SidecarNaming {
                dir,
                identifier,
                pattern,
            };
            sidecar_path(&naming, "fr", ext)
        };
        assert_eq!(
            path("a/b.mp4", FilePattern::IdentifierLang, "vtt"),
            "a/b_fr.vtt"
        );
        assert_eq!(
            path("a/b.mp4", FilePattern::LangIdentifier, "srt"),
            "a/fr_b.srt"
        );
        assert_eq!(
            path("b.mp4", FilePattern::LangIdentifier, "vtt"),
            "fr_b.vtt"
        );
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
        assert!(prepare(b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nhi\n", 0)
            .unwrap_err()
            .contains("before"));
        assert!(prepare(b"WEBVTT\n\n00:00:0x.000 --> 00:00:01.000\nhi\n", 0)
            .unwrap_err()
            .contains("timing"));
        let huge = vec![b'a'; MAX_SIDECAR_BYTES + 1];
        assert!(prepare(&huge, 0).unwrap_err().contains("larger"));
        assert!(prepare_sidecar(SidecarExt::Srt, &huge, 0)
            .unwrap_err()
            .contains("larger"));
        assert!(prepare_sidecar(SidecarExt::Srt, b"\xff", 0)
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn a_subrip_sidecar_is_served_as_webvtt() {
        let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:03,000\r\nHello\r\n\r\n";
        assert_eq!(
            prepare_sidecar(SidecarExt::Srt, srt.as_bytes(), 17_500).unwrap(),
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:17500,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:03.000\nHello\n"
        );
    }

    #[test]
    fn the_master_names_the_group_on_every_variant() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n";
        let subs = group(
            vec![
                subtitle("en", "", "subtitles_en.m3u8".into()),
                subtitle("fr", "", "subtitles_fr.m3u8".into()),
            ],
            "fr",
            &["fr".to_string()],
        );
        let out = with_group(master, &subs);
        assert!(
            out.contains("NAME=\"Français\",DEFAULT=YES,AUTOSELECT=YES,FORCED=YES"),
            "{out}"
        );
        assert!(
            out.contains("NAME=\"English\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO"),
            "{out}"
        );
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
    fn one_default_and_unique_names_across_sidecars_and_tracks() {
        let subs = group(
            vec![
                subtitle("en", "", "subtitles_en.m3u8".into()),
                subtitle("en", "SubtitleHandler", "subtitles_t3.m3u8".into()),
                subtitle("en", "Director's notes", "subtitles_t4.m3u8".into()),
                subtitle("fr", "", "subtitles_t5.m3u8".into()),
            ],
            "eng",
            &[],
        );
        let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["English", "English (2)", "Director's notes", "Français"]
        );
        let defaults: Vec<bool> = subs.iter().map(|s| s.default).collect();
        assert_eq!(defaults, [true, false, false, false]);
        assert!(group(subs.clone(), "", &[])
            .iter()
            .skip(1)
            .all(|s| !s.default));
        assert!(group(subs, "de", &[]).iter().skip(1).all(|s| !s.default));
    }

    #[test]
    fn the_playlist_has_the_titles_segments_and_cues_cross_boundaries() {
        let durations = [6.0, 6.0, 4.5];
        let with_query = media_playlist("en", &durations, None, "subtitle_identifier=v");
        assert!(
            with_query.contains("\nsubtitles_en_3.vtt?subtitle_identifier=v\n"),
            "{with_query}"
        );
        let text = media_playlist("t3", &durations, None, "");
        assert!(text.contains("#EXT-X-TARGETDURATION:6\n"), "{text}");
        assert!(
            text.contains("#EXTINF:6.000000,\nsubtitles_t3_1.vtt\n#EXTINF:6.000000,\nsubtitles_t3_2.vtt\n#EXTINF:4.500000,\nsubtitles_t3_3.vtt\n#EXT-X-ENDLIST\n"),
            "{text}"
        );
        // A clip's: the video playlist's window and durations, the title's segments.
        let window = Window {
            first: 1,
            last: 2,
            offset: Some(0.5),
            start_cut: Some(super::super::clip::Cut {
                at_ms: 8000,
                removed: 2.0,
            }),
            end_cut: Some(super::super::clip::Cut {
                at_ms: 14000,
                removed: 2.5,
            }),
        };
        let clipped = media_playlist("en", &durations, Some(&window), "");
        assert!(
            clipped.ends_with("#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:2\n#EXTINF:4.000000,\nsubtitles_en_2.vtt\n#EXTINF:2.000000,\nsubtitles_en_3.vtt\n#EXT-X-ENDLIST\n"),
            "{clipped}"
        );
        let vtt = prepare(
            b"WEBVTT\n\n00:00:05.000 --> 00:00:07.000\nacross\n\n00:00:15.000 --> 00:00:30.000\nlong end\n",
            17_500,
        )
        .unwrap();
        let header = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:17500,LOCAL:00:00:00.000\n";
        let across = "\n00:00:05.000 --> 00:00:07.000\nacross\n";
        let long = "\n00:00:15.000 --> 00:00:30.000\nlong end\n";
        assert_eq!(
            segment(&vtt, &durations, 1),
            Some(format!("{header}{across}"))
        );
        assert_eq!(
            segment(&vtt, &durations, 2),
            Some(format!("{header}{across}"))
        );
        assert_eq!(
            segment(&vtt, &durations, 3),
            Some(format!("{header}{long}")),
            "the last segment takes cues past the title's end"
        );
        assert_eq!(segment(&vtt, &durations, 0), None);
        assert_eq!(segment(&vtt, &durations, 4), None);
    }
}
