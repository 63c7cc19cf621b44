//! DASH MPD text (ISO/IEC 23009-1, static, `isoff-live` profile), pure: one
//! AdaptationSet per media type, one Representation per rendition, each with a
//! `SegmentTemplate` and a `SegmentTimeline` of the exact segment times of the
//! CMAF files (the very files CMAF HLS lists).

use crate::tool::output::Cea608;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    pub id: String,
    pub bandwidth: u64,
    pub codecs: String,
    /// Relative to the BaseURL.
    pub initialization: String,
    /// Relative to the BaseURL, with `$Number$`.
    pub media: String,
    pub timescale: u32,
    /// (start, duration) per segment in `timescale` ticks, numbered from 1.
    pub segments: Vec<(u64, u64)>,
    /// Video: width, height and frames per second.
    pub picture: Option<(u32, u32, f64)>,
    /// Audio: sampling rate.
    pub sampling_rate: Option<u32>,
    /// `cbcs`-protected: the key ID of its title (each title has its own key, so
    /// protection is said per Representation).
    pub kid: Option<[u8; 16]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub duration_secs: f64,
    /// Absolute path (or URL) ending in '/', already percent-encoded.
    pub base_url: String,
    pub video: Vec<Representation>,
    pub audio: Vec<Representation>,
    /// Alternate audio: one AdaptationSet per track (then `audio` is empty).
    pub audio_sets: Vec<AudioSet>,
    /// CEA-608 fields the video carries in its SEI, announced on the video
    /// AdaptationSet (SCTE 214-1's `Accessibility`, as DASH-IF's guidelines say).
    pub captions: Cea608,
    /// Subtitles: one text AdaptationSet each, in the order a master lists them.
    pub subtitles: Vec<TextSet>,
}

/// A subtitle rendition as a text AdaptationSet of one whole WebVTT file (the form
/// DASH players read beside fragmented media; its cues on the period's timeline).
#[derive(Debug, Clone, PartialEq)]
pub struct TextSet {
    /// BCP 47 (`lang`).
    pub language: String,
    pub label: String,
    /// The one a player shows unasked (`Role` main).
    pub default: bool,
    /// `Role` forced-subtitle rather than subtitle.
    pub forced: bool,
    /// Relative to the BaseURL (or absolute), already percent-encoded.
    pub url: String,
}

/// One audio track of a title with alternate audio, as its own AdaptationSet.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSet {
    /// BCP 47 (`lang`).
    pub language: String,
    /// The `Label` players show.
    pub label: String,
    /// `Role` `main` (the default track) or `alternate`.
    pub main: bool,
    pub representation: Representation,
}

/// What an AdaptationSet says of its language, beyond its representations.
struct Language<'a> {
    language: &'a str,
    label: &'a str,
    main: bool,
}

/// DASH-IF's ClearKey system (W3C Clear Key), beside the scheme itself.
const CLEARKEY_SYSTEM: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";

/// A key ID as `cenc:default_KID` spells it: a UUID.
fn uuid(kid: &[u8; 16]) -> String {
    let hex: String = kid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `PT…S` with millisecond precision.
fn duration(seconds: f64) -> String {
    format!("PT{:.3}S", seconds.max(0.0))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `24`, or `30000/1001`-style thousandths for a fractional rate.
fn frame_rate(fps: f64) -> String {
    let milli = (fps * 1000.0).round() as u64;
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}/1000")
    }
}

/// `<S>` elements: runs of equal, back-to-back durations as one `r`.
fn timeline(out: &mut String, segments: &[(u64, u64)]) {
    out.push_str("          <SegmentTimeline>\n");
    let mut at = 0;
    let mut expected_start = None;
    while let Some(&(start, length)) = segments.get(at) {
        let mut repeat = 0;
        while segments
            .get(at + repeat + 1)
            .is_some_and(|&(s, d)| d == length && s == start + (repeat as u64 + 1) * length)
        {
            repeat += 1;
        }
        out.push_str("            <S");
        if expected_start != Some(start) {
            let _ = write!(out, " t=\"{start}\"");
        }
        let _ = write!(out, " d=\"{length}\"");
        if repeat > 0 {
            let _ = write!(out, " r=\"{repeat}\"");
        }
        out.push_str("/>\n");
        expected_start = Some(start + (repeat as u64 + 1) * length);
        at += repeat + 1;
    }
    out.push_str("          </SegmentTimeline>\n");
}

/// The `Accessibility` descriptor of CEA-608 channels (CC1 for field 1, CC3 for field
/// 2), `None` when the video carries neither. The language is not in the SEI: `und`
/// (a value without `=lang` is read as a language by some players).
fn captions_descriptor(captions: Cea608) -> Option<String> {
    let channels: Vec<&str> = [(captions.field1, "CC1=und"), (captions.field2, "CC3=und")]
        .into_iter()
        .filter_map(|(on, channel)| on.then_some(channel))
        .collect();
    (!channels.is_empty()).then(|| {
        format!(
            "      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"{}\"/>\n",
            channels.join(";")
        )
    })
}

fn adaptation_set(
    out: &mut String,
    id: usize,
    kind: &str,
    reps: &[Representation],
    language: Option<Language<'_>>,
    accessibility: Option<&str>,
) {
    // Aligned when every representation is cut at the same times.
    let aligned = reps
        .windows(2)
        .all(|w| w[0].timescale == w[1].timescale && w[0].segments == w[1].segments);
    let lang = language
        .as_ref()
        .map(|l| format!(" lang=\"{}\"", escape(l.language)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "    <AdaptationSet id=\"{id}\" contentType=\"{kind}\"{lang} mimeType=\"{kind}/mp4\" segmentAlignment=\"{aligned}\" startWithSAP=\"1\">"
    );
    // The schema's order: Accessibility, then Role.
    out.push_str(accessibility.unwrap_or_default());
    if let Some(l) = &language {
        let role = if l.main { "main" } else { "alternate" };
        let _ = writeln!(
            out,
            "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>"
        );
        let _ = writeln!(out, "      <Label>{}</Label>", escape(l.label));
    }
    for rep in reps {
        let _ = write!(
            out,
            "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\"",
            escape(&rep.id),
            rep.bandwidth.max(1),
            escape(&rep.codecs)
        );
        if let Some((width, height, fps)) = rep.picture {
            let _ = write!(
                out,
                " width=\"{width}\" height=\"{height}\" frameRate=\"{}\" sar=\"1:1\"",
                frame_rate(fps)
            );
        }
        if let Some(rate) = rep.sampling_rate {
            let _ = write!(out, " audioSamplingRate=\"{rate}\"");
        }
        out.push_str(">\n");
        if let Some(kid) = &rep.kid {
            let _ = writeln!(
                out,
                "        <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cbcs\" cenc:default_KID=\"{}\"/>",
                uuid(kid)
            );
            let _ = writeln!(
                out,
                "        <ContentProtection schemeIdUri=\"{CLEARKEY_SYSTEM}\" value=\"ClearKey1.0\"/>"
            );
        }
        let offset = rep.segments.first().map_or(0, |s| s.0);
        let _ = writeln!(
            out,
            "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{offset}\" initialization=\"{}\" media=\"{}\" startNumber=\"1\">",
            rep.timescale.max(1),
            escape(&rep.initialization),
            escape(&rep.media)
        );
        timeline(out, &rep.segments);
        out.push_str("        </SegmentTemplate>\n      </Representation>\n");
    }
    out.push_str("    </AdaptationSet>\n");
}

pub fn manifest(m: &Manifest) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let protected = m
        .video
        .iter()
        .chain(&m.audio)
        .chain(m.audio_sets.iter().map(|s| &s.representation))
        .any(|r| r.kid.is_some());
    let cenc = if protected {
        " xmlns:cenc=\"urn:mpeg:cenc:2013\""
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"{cenc} profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"PT2.000S\">",
        duration(m.duration_secs)
    );
    let _ = writeln!(out, "  <BaseURL>{}</BaseURL>", escape(&m.base_url));
    out.push_str("  <Period id=\"0\" start=\"PT0.000S\">\n");
    let mut id = 0;
    let captions = captions_descriptor(m.captions);
    for (kind, reps, accessibility) in [
        ("video", &m.video, captions.as_deref()),
        ("audio", &m.audio, None),
    ] {
        if !reps.is_empty() {
            adaptation_set(&mut out, id, kind, reps, None, accessibility);
            id += 1;
        }
    }
    for set in &m.audio_sets {
        let language = Language {
            language: &set.language,
            label: &set.label,
            main: set.main,
        };
        let reps = std::slice::from_ref(&set.representation);
        adaptation_set(&mut out, id, "audio", reps, Some(language), None);
        id += 1;
    }
    for (at, set) in m.subtitles.iter().enumerate() {
        text_set(&mut out, id, at, set);
        id += 1;
    }
    out.push_str("  </Period>\n</MPD>\n");
    out
}

/// A text AdaptationSet: Role and Label as the audio sets say them, one Representation
/// whose BaseURL is the file. Its bandwidth is nominal: a whole file is fetched once,
/// never chosen by rate.
fn text_set(out: &mut String, id: usize, at: usize, set: &TextSet) {
    let role = |value: &str| {
        format!("      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{value}\"/>\n")
    };
    let _ = writeln!(
        out,
        "    <AdaptationSet id=\"{id}\" contentType=\"text\" lang=\"{}\" mimeType=\"text/vtt\">",
        escape(&set.language)
    );
    out.push_str(&role(if set.forced {
        "forced-subtitle"
    } else {
        "subtitle"
    }));
    if set.default {
        out.push_str(&role("main"));
    }
    let _ = writeln!(out, "      <Label>{}</Label>", escape(&set.label));
    let _ = writeln!(
        out,
        "      <Representation id=\"s{at}\" bandwidth=\"1000\">\n        <BaseURL>{}</BaseURL>\n      </Representation>",
        escape(&set.url)
    );
    out.push_str("    </AdaptationSet>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str, segments: Vec<(u64, u64)>) -> Representation {
        Representation {
            id: id.into(),
            bandwidth: 500_000,
            codecs: "avc1.64001E".into(),
            initialization: "init_0_v.mp4".into(),
            media: "segment$Number$_0_v.m4s".into(),
            timescale: 12288,
            segments,
            picture: Some((640, 360, 24.0)),
            sampling_rate: None,
            kid: None,
        }
    }

    #[test]
    fn timeline_runs_and_attributes() {
        let m = Manifest {
            duration_secs: 20.0,
            base_url: "/c/a&b.mp4/".into(),
            video: vec![rep("v0", vec![(0, 6), (6, 6), (12, 6), (18, 2)])],
            audio: Vec::new(),
            audio_sets: Vec::new(),
            captions: Cea608::default(),
            subtitles: Vec::new(),
        };
        let text = manifest(&m);
        assert!(text.contains("mediaPresentationDuration=\"PT20.000S\""));
        assert!(text.contains("<BaseURL>/c/a&amp;b.mp4/</BaseURL>"));
        assert!(
            text.contains("<S t=\"0\" d=\"6\" r=\"2\"/>\n            <S d=\"2\"/>\n"),
            "{text}"
        );
        assert!(text.contains("frameRate=\"24\" sar=\"1:1\""));
        assert!(
            text.contains("contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\"")
        );
        assert!(!text.contains("contentType=\"audio\""));
    }

    #[test]
    fn a_gap_restates_the_start_and_unaligned_sets_say_so() {
        let m = Manifest {
            duration_secs: 1.0,
            base_url: "/c/x/".into(),
            video: vec![rep("v0", vec![(5, 6), (20, 6)]), rep("v1", vec![(5, 7)])],
            audio: Vec::new(),
            audio_sets: Vec::new(),
            captions: Cea608::default(),
            subtitles: Vec::new(),
        };
        let text = manifest(&m);
        assert!(
            text.contains("<S t=\"5\" d=\"6\"/>\n            <S t=\"20\" d=\"6\"/>"),
            "{text}"
        );
        assert!(text.contains("presentationTimeOffset=\"5\""));
        assert!(text.contains("segmentAlignment=\"false\""));
        assert_eq!(frame_rate(29.97), "29970/1000");
    }

    #[test]
    fn each_alternate_audio_track_is_a_set_with_its_language() {
        let audio = |id: &str| Representation {
            codecs: "mp4a.40.2".into(),
            picture: None,
            sampling_rate: Some(48000),
            ..rep(id, vec![(0, 6)])
        };
        let set = |language: &str, label: &str, main: bool, id: &str| AudioSet {
            language: language.into(),
            label: label.into(),
            main,
            representation: audio(id),
        };
        let m = Manifest {
            duration_secs: 6.0,
            base_url: "/c/x/".into(),
            video: vec![rep("v0", vec![(0, 6)])],
            audio: Vec::new(),
            audio_sets: vec![
                set("en", "English", true, "a2_0"),
                set("fr", "Fran\u{e7}ais & co", false, "a3_0"),
            ],
            captions: Cea608::default(),
            subtitles: Vec::new(),
        };
        let text = manifest(&m);
        assert!(
            text.contains(
                "<AdaptationSet id=\"1\" contentType=\"audio\" lang=\"en\" mimeType=\"audio/mp4\""
            ) && text.contains("<AdaptationSet id=\"2\" contentType=\"audio\" lang=\"fr\""),
            "{text}"
        );
        assert!(
            text.contains("value=\"main\"/>\n      <Label>English</Label>"),
            "{text}"
        );
        assert!(text.contains("value=\"alternate\"/>\n      <Label>Fran\u{e7}ais &amp; co</Label>"));
        assert!(text.contains("<Representation id=\"a3_0\""));
    }

    #[test]
    fn protected_representations_name_scheme_key_id_and_clearkey() {
        let mut protected = rep("v0", vec![(0, 6)]);
        protected.kid = Some(*b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef");
        let m = Manifest {
            duration_secs: 6.0,
            base_url: "/c/x/".into(),
            video: vec![protected, rep("v1", vec![(0, 6)])],
            audio: Vec::new(),
            audio_sets: Vec::new(),
            captions: Cea608::default(),
            subtitles: Vec::new(),
        };
        let text = manifest(&m);
        assert!(text.contains(
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:cenc=\"urn:mpeg:cenc:2013\" "
        ));
        let v0 = &text[text.find("id=\"v0\"").unwrap()..text.find("id=\"v1\"").unwrap()];
        assert!(v0.contains("<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cbcs\" cenc:default_KID=\"01234567-89ab-cdef-0123-456789abcdef\"/>\n        <ContentProtection schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\" value=\"ClearKey1.0\"/>\n        <SegmentTemplate"), "{v0}");
        assert_eq!(
            text.matches("ContentProtection").count(),
            2,
            "v1 is clear: {text}"
        );
        let clear = Manifest {
            video: vec![rep("v1", vec![(0, 6)])],
            ..m
        };
        assert!(!manifest(&clear).contains("cenc"));
    }

    #[test]
    fn each_subtitle_is_a_text_set_of_one_whole_file() {
        let text = |language: &str, label: &str, default, forced, url: &str| TextSet {
            language: language.into(),
            label: label.into(),
            default,
            forced,
            url: url.into(),
        };
        let m = Manifest {
            duration_secs: 6.0,
            base_url: "/c/x/".into(),
            video: vec![rep("v0", vec![(0, 6)])],
            audio: Vec::new(),
            audio_sets: Vec::new(),
            captions: Cea608::default(),
            subtitles: vec![
                text("en", "English", true, false, "subtitles_en.vtt"),
                text(
                    "fr",
                    "Fran\u{e7}ais",
                    false,
                    true,
                    "subtitles_fr.vtt?a=1&b=2",
                ),
            ],
        };
        let out = manifest(&m);
        let role = "<Role schemeIdUri=\"urn:mpeg:dash:role:2011\"";
        assert!(out.contains(&format!(
            "    <AdaptationSet id=\"1\" contentType=\"text\" lang=\"en\" mimeType=\"text/vtt\">\n      \
             {role} value=\"subtitle\"/>\n      {role} value=\"main\"/>\n      <Label>English</Label>\n      \
             <Representation id=\"s0\" bandwidth=\"1000\">\n        <BaseURL>subtitles_en.vtt</BaseURL>\n      \
             </Representation>\n    </AdaptationSet>\n"
        )), "{out}");
        assert!(
            out.contains(&format!("lang=\"fr\" mimeType=\"text/vtt\">\n      {role} value=\"forced-subtitle\"/>\n      <Label>"))
                && out.contains("<BaseURL>subtitles_fr.vtt?a=1&amp;b=2</BaseURL>"),
            "{out}"
        );
        assert_eq!(out.matches("value=\"main\"").count(), 1, "{out}");
    }

    #[test]
    fn captions_are_announced_on_the_video_set_only() {
        let mut m = Manifest {
            duration_secs: 6.0,
            base_url: "/c/x/".into(),
            video: vec![rep("v0", vec![(0, 6)])],
            audio: vec![rep("a0", vec![(0, 6)])],
            audio_sets: Vec::new(),
            captions: Cea608::default(),
            subtitles: Vec::new(),
        };
        assert!(!manifest(&m).contains("Accessibility"));
        m.captions.field1 = true;
        let text = manifest(&m);
        let video = "contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n      \
                     <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1=und\"/>\n      <Representation id=\"v0\"";
        assert!(text.contains(video), "{text}");
        assert_eq!(text.matches("Accessibility").count(), 1, "{text}");
        m.captions.field2 = true;
        assert!(manifest(&m).contains("value=\"CC1=und;CC3=und\""));
    }
}
