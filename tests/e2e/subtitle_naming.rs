//! MSOD's sidecar naming: a csmil's sidecars are named after its media identifier
//! (`clip_,low,medium,.mp4.csmil` → `clip_en.vtt`), and a master's
//! `subtitle_file_pattern` / `subtitle_identifier` / `subtitle_location` query finds
//! them elsewhere; the subtitle URIs carry what found them, nginx serves the
//! identifier's files from the cache, and bad values are 400.

use crate::common::*;

fn stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let en = write(
        "en.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nBy the csmil\n",
    );
    let fr = write(
        "fr.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nPar le rendu\n",
    );
    let de = write("de.srt", "1\n00:00:02,000 --> 00:00:04,000\nAnderswo\n");
    Stack::builder()
        .file_as(&media("clip_low.mp4"), "films/clip_low.mp4")
        .file_as(&media("clip_medium.mp4"), "films/clip_medium.mp4")
        .file_as(&en, "films/clip_en.vtt")
        .file_as(&fr, "films/clip_low_fr.vtt")
        .file_as(&de, "films/subs/de_feature.srt")
        .config("subtitles", r#"languages = ["en", "fr", "de"]"#)
        .start()
}

const CSMIL: &str = "/i/films/clip_,low,medium,.mp4.csmil/master.m3u8";

/// `resolve` for a URI and a base whose queries may hold `/` (a base's query is no
/// part of a reference's resolution, RFC 3986 5.2).
fn resolve_with_query(base: &str, uri: &str) -> String {
    let base = base.split_once('?').map_or(base, |(path, _)| path);
    match uri.split_once('?') {
        Some((path, query)) => format!("{}?{query}", resolve(base, path)),
        None => resolve(base, uri),
    }
}

#[test]
fn a_csmils_sidecars_are_found_by_its_identifier_and_cached() {
    let stack = stack();
    let master = stack.get(CSMIL);
    assert_eq!(master.status, 200, "{}", master.text());
    let listed = subtitle_renditions(&master.text());
    assert_eq!(
        listed,
        [
            (
                "en".to_string(),
                "../clip_low.mp4/subtitles_en.m3u8?subtitle_identifier=clip".to_string()
            ),
            (
                "fr".to_string(),
                "../clip_low.mp4/subtitles_fr.m3u8".to_string()
            ),
        ],
        "en by the csmil's identifier, fr by the rendition's name, de not here"
    );
    let playlist_path = resolve_with_query(CSMIL, &listed[0].1);
    let playlist = stack.get(&playlist_path);
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let first = segments(&playlist.text())[0].1.clone();
    assert_eq!(first, "subtitles_en_1.vtt?subtitle_identifier=clip");
    let segment_path = resolve_with_query(&playlist_path, &first);
    let segment = stack.get(&segment_path);
    assert_eq!(segment.status, 200, "{}", segment.text());
    assert!(
        segment.text().contains("\nBy the csmil\n"),
        "{}",
        segment.text()
    );
    // The identifier's files have a cache name nginx knows: hits from then on.
    for path in [&playlist_path, &segment_path] {
        let again = stack.get(path);
        assert_eq!(again.header("x-casterpak-cache"), "HIT", "{path}");
    }
    assert_eq!(stack.get(CSMIL).header("x-casterpak-cache"), "HIT");
    // Without the identifier, the rendition's own name has no English sidecar.
    assert_eq!(
        stack.get("/i/films/clip_low.mp4/subtitles_en_1.vtt").status,
        404
    );
    assert_ffmpeg_decodes(&stack, CSMIL, "csmil with identifier sidecars");
}

#[test]
fn the_query_overrides_pattern_identifier_and_location() {
    let stack = stack();
    let overrides = "subtitle_file_pattern=langcode_identifier&subtitle_identifier=feature";
    let want = "../clip_low.mp4/subtitles_de.m3u8?subtitle_file_pattern=langcode_identifier\
                &subtitle_identifier=feature&subtitle_location=/films/subs";
    // Relative to the title's dir, absolute from the root, percent-encoded: one place.
    for location in ["subs", "/films/subs", "%2Ffilms%2Fsubs", "./subs/../subs/"] {
        let path = format!("{CSMIL}?{overrides}&subtitle_location={location}");
        let master = stack.get(&path);
        assert_eq!(master.status, 200, "{location}: {}", master.text());
        assert_eq!(
            subtitle_renditions(&master.text()),
            [("de".to_string(), want.to_string())],
            "{location}"
        );
    }
    let playlist_path = resolve_with_query(CSMIL, want);
    let playlist = stack.get(&playlist_path);
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let first = &segments(&playlist.text())[0].1;
    let segment = stack.get(&resolve_with_query(&playlist_path, first));
    assert_eq!(segment.status, 200, "{}", segment.text());
    assert!(
        segment
            .text()
            .contains("00:00:02.000 --> 00:00:04.000\nAnderswo\n"),
        "the SubRip sidecar as WebVTT: {}",
        segment.text()
    );
    // Only the format a pattern's extension names is looked for.
    let vtt_only = format!("{CSMIL}?subtitle_file_pattern=langcode_identifier.vtt&subtitle_identifier=feature&subtitle_location=subs");
    assert!(subtitle_renditions(&stack.get(&vtt_only).text()).is_empty());
    // ffmpeg reads the cues through the URIs the master wrote.
    let cues = ffmpeg_webvtt(&stack, &playlist_path);
    assert!(cues.contains("Anderswo"), "ffmpeg: {cues}");
    for bad in [
        "subtitle_location=../..",
        "subtitle_location=subs/.hidden",
        "subtitle_identifier=.x",
        "subtitle_identifier=a%2Fb",
        "subtitle_file_pattern=lang_identifier",
        "subtitle_file_pattern=langcode_identifier.sub",
    ] {
        let response = stack.get(&format!("{CSMIL}?{bad}"));
        assert_eq!(response.status, 400, "{bad}: {}", response.text());
        assert!(
            response.text().contains("subtitle_"),
            "{bad}: {}",
            response.text()
        );
    }
    // Overrides do not reach what they do not name: the video is the title's.
    let plain = stack.get("/i/films/clip_low.mp4/index_0_av.m3u8").text();
    let with = stack
        .get(&format!(
            "/i/films/clip_low.mp4/index_0_av.m3u8?{overrides}"
        ))
        .text();
    assert_eq!(plain, with);
}
