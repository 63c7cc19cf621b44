//! DASH subtitles: an MPD offers each subtitle a CMAF master lists (sidecars and the
//! MP4's own timed text tracks) as a text AdaptationSet of one whole WebVTT file, the
//! default first; its cues on the period's timeline: moved by how far the video's first
//! frame lies after the start its Representation's `presentationTimeOffset` names (read
//! from the files).

use crate::common::fmp4::first_frame;
use crate::common::*;

/// A text AdaptationSet as a player reads it: lang, Label, Role values, BaseURL.
type TextSet = (String, String, Vec<String>, String);

fn text_sets(mpd: &str) -> Vec<TextSet> {
    let doc = roxmltree::Document::parse(mpd).unwrap_or_else(|e| panic!("{e}: {mpd}"));
    let child_text = |node: roxmltree::Node, name: &str| {
        node.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_string()
    };
    doc.descendants()
        .filter(|n| n.has_tag_name("AdaptationSet") && n.attribute("contentType") == Some("text"))
        .map(|set| {
            assert_eq!(set.attribute("mimeType"), Some("text/vtt"));
            let roles = set
                .children()
                .filter(|n| n.has_tag_name("Role"))
                .filter_map(|n| n.attribute("value"))
                .map(String::from)
                .collect();
            (
                set.attribute("lang").unwrap_or_default().to_string(),
                child_text(set, "Label"),
                roles,
                child_text(set, "BaseURL"),
            )
        })
        .collect()
}

/// `hh:mm:ss.ttt`, as the served cues are written.
fn vtt_time(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

#[test]
fn an_mpd_names_each_subtitle_as_one_webvtt_on_the_periods_timeline() {
    let stack = Stack::builder()
        .media("subtitled.mp4")
        .file_as(&media("subtitled_fr.srt"), "subtitled_fr.srt")
        .config("subtitles", r#"languages = ["fr"]"#)
        .config("subtitles", r#"default_language = "en""#)
        .start();
    let mpd = stack.get("/d/subtitled.mp4/manifest.mpd");
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    let text = mpd.text();
    let roles = |v: &[&str]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    assert_eq!(
        text_sets(&text),
        [
            (
                "en".into(),
                "English".into(),
                roles(&["subtitle", "main"]),
                "subtitles_t3.vtt".into()
            ),
            (
                "fr".into(),
                "Français".into(),
                roles(&["subtitle"]),
                "subtitles_fr.vtt".into()
            ),
        ],
        "{text}"
    );
    // Period time 0 is the video's first segment start (its presentationTimeOffset);
    // the title's time 0 is its first presented frame.
    let init = stack.get("/c/subtitled.mp4/init_0_v.mp4").body;
    let segment = stack.get("/c/subtitled.mp4/segment1_0_v.m4s").body;
    let first = first_frame(&init, &segment);
    assert!(
        text.contains(&format!(
            "timescale=\"{}\" presentationTimeOffset=\"{}\"",
            first.timescale, first.decode
        )),
        "{text}"
    );
    let shift = (first.start - first.decode) * 1000 / first.timescale;
    println!("the video's first frame lies {shift} ms into the period");
    let whole = |name: &str| {
        let file = stack.get(&format!("/c/subtitled.mp4/{name}"));
        assert_eq!(file.status, 200, "{name}: {}", file.text());
        assert_eq!(file.header("content-type"), "text/vtt");
        let body = file.text();
        assert!(
            body.starts_with("WEBVTT\n") && !body.contains("X-TIMESTAMP-MAP"),
            "{body:?}"
        );
        body
    };
    let cue = |from: u64, to: u64, text: &str| {
        format!(
            "\n{} --> {}\n{text}\n",
            vtt_time(from + shift),
            vtt_time(to + shift)
        )
    };
    let track = whole("subtitles_t3.vtt");
    assert!(
        track.contains(&cue(1000, 4000, "Hello from the track"))
            && track.contains(&cue(7500, 12000, "Fish &amp; chips")),
        "{track:?}"
    );
    let sidecar = whole("subtitles_fr.vtt");
    assert!(
        sidecar.contains(&cue(2000, 5000, "Bonjour"))
            && sidecar.contains(&cue(14000, 18000, "Au revoir")),
        "{sidecar:?}"
    );
    for name in ["subtitles_t3.vtt", "subtitles_fr.vtt"] {
        let again = stack.get(&format!("/c/subtitled.mp4/{name}"));
        assert_eq!(again.header("x-casterpak-cache"), "HIT", "{name}");
    }
    for path in [
        "/c/subtitled.mp4/subtitles_t9.vtt",
        "/c/subtitled.mp4/subtitles_de.vtt",
        "/d/subtitled.mp4/subtitles_fr.vtt",
    ] {
        assert_eq!(stack.get(path).status, 404, "{path}");
    }
}

/// A csmil's MPD names its first rendition's sidecar relative to the MPD's BaseURL,
/// which resolves to that rendition's own whole WebVTT.
#[test]
fn a_csmil_mpd_names_the_first_renditions_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en.vtt");
    std::fs::write(&en, "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n").unwrap();
    let stack = Stack::builder()
        .media("clip_low.mp4")
        .media("clip_medium.mp4")
        .file_as(&en, "clip_low_en.vtt")
        .config("subtitles", r#"languages = ["en"]"#)
        .start();
    let mpd = stack.get("/d/clip_,low,medium,.mp4.csmil/manifest.mpd");
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    let text = mpd.text();
    let sets = text_sets(&text);
    assert_eq!(sets.len(), 1, "{text}");
    assert_eq!(sets[0].3, "../clip_low.mp4/subtitles_en.vtt", "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let base = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("BaseURL"))
        .and_then(|n| n.text())
        .expect("the MPD's BaseURL");
    let whole = stack.get(&resolve(&format!("{base}manifest.mpd"), &sets[0].3));
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert!(whole.text().contains("\nHello\n"), "{}", whole.text());
}
