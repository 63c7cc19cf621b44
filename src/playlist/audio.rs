//! Alternate audio (issue 12): a title with several audio tracks gets one
//! `EXT-X-MEDIA:TYPE=AUDIO` rendition per track, grouped by codec, and variants
//! that carry the video alone and name their group. Pure: tracks in, lines out.

use crate::tool::output::AudioTrack;
use std::collections::BTreeSet;
use std::fmt::Write;

/// One `EXT-X-MEDIA:TYPE=AUDIO` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRendition {
    pub group: String,
    pub codec: String,
    /// BCP 47.
    pub language: String,
    pub name: String,
    pub default: bool,
    pub channels: u16,
    pub uri: String,
}

/// The group of a codec: players pick the group whose codec they decode.
pub fn group_id(codec: &str) -> String {
    format!("aud-{codec}")
}

/// The renditions of `tracks` (file order), `uri_of` naming each one's playlist.
/// Exactly one per group is DEFAULT: the first whose language is `preferred`, else
/// the group's first. NAMEs are unique within a group, as HLS requires.
pub fn renditions(
    tracks: &[AudioTrack],
    preferred: Option<&str>,
    uri_of: impl Fn(u32) -> String,
) -> Vec<AudioRendition> {
    let mut out: Vec<AudioRendition> = Vec::with_capacity(tracks.len());
    for track in tracks {
        let group = group_id(&track.codec);
        let language = bcp47(&track.language);
        let base = display_name(track, &language);
        let taken: BTreeSet<&str> = out
            .iter()
            .filter(|r| r.group == group)
            .map(|r| r.name.as_str())
            .collect();
        let name = if taken.contains(base.as_str()) {
            format!("{base} ({})", track.id)
        } else {
            base
        };
        out.push(AudioRendition {
            group,
            codec: track.codec.clone(),
            language,
            name,
            default: false,
            channels: track.channels,
            uri: uri_of(track.id),
        });
    }
    let groups: BTreeSet<String> = out.iter().map(|r| r.group.clone()).collect();
    for group in groups {
        let members = || out.iter().enumerate().filter(|(_, r)| r.group == group);
        let chosen = preferred
            .and_then(|lang| members().find(|(_, r)| same_language(&r.language, lang)))
            .or_else(|| members().next())
            .map(|(i, _)| i);
        if let Some(r) = chosen.and_then(|i| out.get_mut(i)) {
            r.default = true;
        }
    }
    out
}

/// The groups in the order their first rendition comes: one variant per group.
pub fn groups(renditions: &[AudioRendition]) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for r in renditions {
        if !seen.iter().any(|(g, _): &(String, String)| *g == r.group) {
            seen.push((r.group.clone(), r.codec.clone()));
        }
    }
    seen
}

/// `master` with the audio renditions listed after its header.
pub fn with_renditions(master: &str, renditions: &[AudioRendition]) -> String {
    let mut lines = String::new();
    for r in renditions {
        let yes_no = if r.default { "YES" } else { "NO" };
        let _ = write!(
            lines,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",LANGUAGE=\"{}\",NAME=\"{}\",DEFAULT={yes_no},AUTOSELECT=YES",
            r.group,
            r.language,
            quoted_safe(&r.name)
        );
        if r.channels > 0 {
            let _ = write!(lines, ",CHANNELS=\"{}\"", r.channels);
        }
        let _ = writeln!(lines, ",URI=\"{}\"", r.uri);
    }
    match master.split_once('\n') {
        Some((header, rest)) => format!("{header}\n{lines}{rest}"),
        None => format!("{master}\n{lines}"),
    }
}

/// The track's own name when its muxer wrote one, else its language's name.
fn display_name(track: &AudioTrack, language: &str) -> String {
    let own = track.name.trim();
    if own.is_empty() || is_muxer_default(own) {
        super::subtitles::language_name(language).to_string()
    } else {
        own.to_string()
    }
}

/// Handler names muxers write when nobody named the track.
fn is_muxer_default(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "soundhandler"
        || lower.ends_with("sound media handler")
        || lower.ends_with("audio handler")
        || lower == "core media audio"
        || lower.starts_with("isomedia file produced")
        || lower.starts_with("iso media file produced")
}

/// A quoted-string attribute cannot hold `"` or line breaks.
fn quoted_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect()
}

fn same_language(a: &str, b: &str) -> bool {
    bcp47(a).eq_ignore_ascii_case(&bcp47(b))
}

/// ISO 639-2 (as `mdhd` stores it) to the shortest BCP 47 tag: the ISO 639-1 code
/// where one exists for the common languages, the code itself otherwise.
pub fn bcp47(code: &str) -> String {
    let short = match code {
        "eng" => "en",
        "fra" | "fre" => "fr",
        "deu" | "ger" => "de",
        "spa" => "es",
        "ita" => "it",
        "nld" | "dut" => "nl",
        "por" => "pt",
        "swe" => "sv",
        "dan" => "da",
        "nor" => "no",
        "nob" => "nb",
        "fin" => "fi",
        "pol" => "pl",
        "rus" => "ru",
        "jpn" => "ja",
        "kor" => "ko",
        "zho" | "chi" => "zh",
        "ara" => "ar",
        "tur" => "tr",
        "ell" | "gre" => "el",
        "ces" | "cze" => "cs",
        "hun" => "hu",
        "heb" => "he",
        "hin" => "hi",
        _ => code,
    };
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u32, codec: &str, language: &str, name: &str, channels: u16) -> AudioTrack {
        AudioTrack {
            id,
            codec: codec.into(),
            language: language.into(),
            name: name.into(),
            channels,
        }
    }

    fn tracks() -> Vec<AudioTrack> {
        vec![
            track(2, "mp4a.40.2", "eng", "English", 2),
            track(3, "mp4a.40.2", "fra", "SoundHandler", 2),
            track(4, "ac-3", "eng", "English (AC-3)", 1),
        ]
    }

    #[test]
    fn one_default_per_codec_group_and_names_from_handlers_or_languages() {
        let list = renditions(&tracks(), None, |id| format!("index_0_a{id}.m3u8"));
        let summary: Vec<(&str, &str, &str, bool)> = list
            .iter()
            .map(|r| {
                (
                    r.group.as_str(),
                    r.language.as_str(),
                    r.name.as_str(),
                    r.default,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("aud-mp4a.40.2", "en", "English", true),
                ("aud-mp4a.40.2", "fr", "Français", false),
                ("aud-ac-3", "en", "English (AC-3)", true),
            ]
        );
        assert_eq!(
            groups(&list),
            [
                ("aud-mp4a.40.2".to_string(), "mp4a.40.2".to_string()),
                ("aud-ac-3".to_string(), "ac-3".to_string())
            ]
        );
    }

    #[test]
    fn the_preferred_language_is_the_default_of_its_group() {
        let list = renditions(&tracks(), Some("fr"), |id| format!("a{id}"));
        let defaults: Vec<&str> = list
            .iter()
            .filter(|r| r.default)
            .map(|r| r.uri.as_str())
            .collect();
        assert_eq!(defaults, ["a3", "a4"], "fra in AAC; AC-3 has no French");
        let by_639_2 = renditions(&tracks(), Some("fra"), |id| format!("a{id}"));
        assert_eq!(list, by_639_2);
    }

    #[test]
    fn names_stay_unique_within_a_group() {
        let twins = [
            track(2, "mp4a.40.2", "eng", "", 2),
            track(3, "mp4a.40.2", "eng", "", 2),
        ];
        let list = renditions(&twins, None, |id| format!("a{id}"));
        assert_eq!(list[0].name, "English");
        assert_eq!(list[1].name, "English (3)");
    }

    #[test]
    fn the_lines_follow_the_header() {
        let list = renditions(&tracks()[..2], None, |id| format!("index_0_a{id}.m3u8"));
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex_0_v.m3u8\n";
        assert_eq!(
            with_renditions(master, &list),
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud-mp4a.40.2\",LANGUAGE=\"en\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"index_0_a2.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud-mp4a.40.2\",LANGUAGE=\"fr\",NAME=\"Français\",DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"index_0_a3.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\nindex_0_v.m3u8\n"
        );
        let quoted = [track(2, "mp4a.40.2", "eng", "Director's \"cut\"\n", 2)];
        let line = with_renditions("#EXTM3U\n", &renditions(&quoted, None, |_| "x".into()));
        assert!(line.contains("NAME=\"Director's 'cut'\""), "{line}");
    }
}
