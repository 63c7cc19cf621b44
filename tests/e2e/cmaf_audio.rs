//! Alternate audio in CMAF HLS and DASH (issue 12 with issue 11): the English and
//! French AAC tracks and the English AC-3 track of `multi_audio.mp4` are each their own
//! CMAF audio track, listed as `EXT-X-MEDIA:TYPE=AUDIO` in the CMAF master (a group per
//! codec, the video once per group) and as one AdaptationSet per track in the MPD, cut
//! where the video is; ffmpeg decodes it all, AC-3 included.

use crate::cmaf::{fetch_cmaf_playlist, representations};
use crate::common::*;

#[test]
fn each_audio_track_is_its_own_cmaf_audio_in_hls_and_dash() {
    let stack = Stack::builder().media("multi_audio.mp4").start();
    let master_path = "/c/multi_audio.mp4/master.m3u8";
    let master = stack.get(master_path);
    assert_eq!(master.status, 200, "{}", master.text());
    let text = master.text();
    let audio: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(attributes)
        .collect();
    let summary: Vec<[&str; 4]> = audio
        .iter()
        .map(|a| [&a["GROUP-ID"], &a["LANGUAGE"], &a["DEFAULT"], &a["URI"]].map(String::as_str))
        .collect();
    assert_eq!(
        summary,
        [
            ["aud-mp4a.40.2", "en", "YES", "index_0_a2.m3u8"],
            ["aud-mp4a.40.2", "fr", "NO", "index_0_a3.m3u8"],
            ["aud-ac-3", "en", "YES", "index_0_a4.m3u8"],
        ],
        "{text}"
    );
    let listed = variants(&text);
    let groups: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|(a, uri)| (uri.as_str(), a["AUDIO"].as_str(), a["CODECS"].as_str()))
        .collect();
    assert_eq!(groups.len(), 2, "the video once per group: {text}");
    for (uri, group, codecs) in &groups {
        assert_eq!(*uri, "index_0_v.m3u8");
        let codec = group.strip_prefix("aud-").expect("aud- group");
        assert!(
            codecs.ends_with(&format!(",{codec}")),
            "{codecs} for {group}"
        );
    }
    let (ac3, _) = fetch_cmaf_playlist(&stack, "/c/multi_audio.mp4/index_0_a4.m3u8");

    let (video, _) = fetch_cmaf_playlist(&stack, "/c/multi_audio.mp4/index_0_v.m3u8");
    let (english, _) = fetch_cmaf_playlist(&stack, "/c/multi_audio.mp4/index_0_a2.m3u8");
    let (french, french_urls) = fetch_cmaf_playlist(&stack, "/c/multi_audio.mp4/index_0_a3.m3u8");
    assert_eq!(english.len(), video.len());
    assert_eq!(english, french, "both AAC tracks are cut alike");
    assert_eq!(ac3.len(), video.len(), "AC-3 is cut where the video is");
    for (a, v) in english.iter().zip(&video) {
        assert!((a - v).abs() < 0.05, "{english:?} vs {video:?}");
    }
    // The French segments are not the English ones.
    let first_fr = stack.get(&french_urls[1]).body;
    let first_en = stack.get("/c/multi_audio.mp4/segment2_0_a2.m4a").body;
    assert_ne!(first_fr, first_en);
    for path in [
        "/c/multi_audio.mp4/index_0_a5.m3u8",
        "/c/multi_audio.mp4/segment1_0_a9.m4a",
    ] {
        let r = stack.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    assert_ffmpeg_decodes(&stack, master_path, "the CMAF master with alternate audio");

    let mpd_path = "/d/multi_audio.mp4/manifest.mpd";
    let mpd = stack.get(mpd_path);
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    let doc_text = mpd.text();
    let doc = roxmltree::Document::parse(&doc_text).expect("well-formed");
    let sets: Vec<(Option<&str>, Option<&str>, Option<&str>)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet") && n.attribute("contentType") == Some("audio"))
        .map(|set| {
            let child = |name: &str| set.children().find(|n| n.has_tag_name(name));
            (
                set.attribute("lang"),
                child("Label").and_then(|l| l.text()),
                child("Role").and_then(|r| r.attribute("value")),
            )
        })
        .collect();
    assert_eq!(
        sets,
        [
            (Some("en"), Some("English"), Some("main")),
            (Some("fr"), Some("Français"), Some("alternate")),
            (Some("en"), Some("English (AC-3)"), Some("main")),
        ],
        "{doc_text}"
    );
    let reps = representations(&doc_text);
    let audio_timelines: Vec<&Vec<u64>> = reps
        .iter()
        .filter(|(kind, ..)| kind == "audio")
        .map(|(.., durations)| durations)
        .collect();
    assert_eq!(audio_timelines.len(), 3);
    assert_eq!(audio_timelines[0], audio_timelines[1], "the AAC tracks");
    assert!(
        doc_text.contains("media=\"segment$Number$_0_a3.m4a\""),
        "{doc_text}"
    );
    assert_ffmpeg_decodes(&stack, mpd_path, "the MPD with alternate audio");
}
